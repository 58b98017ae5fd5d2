// The two programs the real test node runs as container images: the Pod
// sandbox's pause process and a game server that names itself to players.
// Standard library only, built static, packed into images by the harness.
module gamenet.test/controlplane/images

go 1.25.0
