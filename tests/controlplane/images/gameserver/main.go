// Command gameserver is the test node's game server: on every port in
// GAME_PORTS ("7777,9000-9009") it answers each UDP datagram and each TCP
// connection with one line, "<pod> <protocol> <port>", naming the Pod
// (POD_NAME) and the port the packet arrived at inside the container, so a
// player can tell which game server, and which of its ports, it reached.
package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	pod := os.Getenv("POD_NAME")
	if pod == "" {
		pod, _ = os.Hostname()
	}
	ports, err := parsePorts(os.Getenv("GAME_PORTS"))
	if err != nil {
		log.Fatalf("GAME_PORTS: %v", err)
	}
	for _, port := range ports {
		go serveUDP(pod, port)
		go serveTCP(pod, port)
	}
	log.Printf("%s answering on %d port(s), UDP and TCP", pod, len(ports))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

func parsePorts(text string) ([]int, error) {
	var ports []int
	for _, part := range strings.Split(text, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(first)
		if err != nil {
			return nil, fmt.Errorf("%q is not a port", part)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(last); err != nil || hi < lo {
				return nil, fmt.Errorf("%q is not a port range", part)
			}
		}
		for p := lo; p <= hi; p++ {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("no port given")
	}
	return ports, nil
}

func serveUDP(pod string, port int) {
	conn, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		log.Printf("UDP %d: %v", port, err)
		return
	}
	reply := []byte(fmt.Sprintf("%s UDP %d\n", pod, port))
	buf := make([]byte, 2048)
	for {
		_, from, err := conn.ReadFrom(buf)
		if err != nil {
			log.Printf("UDP %d: %v", port, err)
			return
		}
		if _, err := conn.WriteTo(reply, from); err != nil {
			log.Printf("UDP %d reply to %s: %v", port, from, err)
		}
	}
}

func serveTCP(pod string, port int) {
	listener, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		log.Printf("TCP %d: %v", port, err)
		return
	}
	reply := []byte(fmt.Sprintf("%s TCP %d\n", pod, port))
	for {
		conn, err := listener.Accept()
		if err != nil {
			log.Printf("TCP %d: %v", port, err)
			return
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write(reply)
		}()
	}
}
