// A Go producer/consumer on etcd's own recipes (Debian's golang-etcd-server-dev, etcd 3.4), for
// the interop test: go-interop.test.ts builds it and runs
//
//	qinterop queue|pq <name> enqueue <values…>   (pq values as "<priority>:<value>")
//	qinterop queue|pq <name> dequeue <count>      (prints each value on a line)
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	recipe "go.etcd.io/etcd/contrib/recipes"
)

func main() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Getenv("ETCD_ENDPOINTS"), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	kind, name, op := os.Args[1], os.Args[2], os.Args[3]
	switch kind + " " + op {
	case "queue enqueue":
		for _, v := range os.Args[4:] {
			if err := recipe.NewQueue(cli, name).Enqueue(v); err != nil {
				panic(err)
			}
		}
	case "queue dequeue":
		n, _ := strconv.Atoi(os.Args[4])
		for i := 0; i < n; i++ {
			v, err := recipe.NewQueue(cli, name).Dequeue()
			if err != nil {
				panic(err)
			}
			fmt.Println(v)
		}
	case "pq enqueue":
		for _, a := range os.Args[4:] {
			parts := strings.SplitN(a, ":", 2)
			pr, _ := strconv.Atoi(parts[0])
			if err := recipe.NewPriorityQueue(cli, name).Enqueue(parts[1], uint16(pr)); err != nil {
				panic(err)
			}
		}
	case "pq dequeue":
		n, _ := strconv.Atoi(os.Args[4])
		for i := 0; i < n; i++ {
			v, err := recipe.NewPriorityQueue(cli, name).Dequeue()
			if err != nil {
				panic(err)
			}
			fmt.Println(v)
		}
	}
}
