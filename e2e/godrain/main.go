// godrain cordons and drains one node through k8s.io/kubectl/pkg/drain, the Go helper that medik8s's
// node-maintenance-operator, kured and Cluster API drain with. `make bench` runs it as drydock's stronger rival
// (e2e/src/bench/drain/godrain.rs): the helper is set as medik8s sets it, and the client's rate limits are flags,
// --qps 20 --burst 30 being controller-runtime's default client and a negative --qps no limit at all. With --retry a
// failed drain is run again after that pause, as medik8s's operator requeues it.
// Built by e2e/cluster/build.sh godrain; its go.mod is written by e2e/cluster/pin.sh godrain.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubectl/pkg/drain"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	node := flag.String("node", "", "the node to cordon and drain")
	qps := flag.Float64("qps", 20, "client requests per second: 20 with --burst 30 is controller-runtime's default, "+
		"0 client-go's (5, burst 10), a negative value no client-side limit")
	burst := flag.Int("burst", 30, "client burst")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: never)")
	retry := flag.Duration("retry", 0, "after a failed drain, wait this long and drain again (medik8s requeues a "+
		"failed drain after 5s); 0: exit on the first failure")
	flag.Parse()
	if *node == "" || flag.NArg() > 0 {
		fail(fmt.Errorf("usage: godrain --node NAME [--kubeconfig FILE] [--qps 20] [--burst 30] [--timeout 40m] [--retry 5s]"))
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		fail(err)
	}
	// client-go: QPS 0 means its default of 5, a negative QPS no rate limiter (rest.Config.QPS).
	config.QPS = float32(*qps)
	config.Burst = *burst
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	// As medik8s's node-maintenance-operator sets it (controllers/nodemaintenance_controller.go, initDrainer):
	// EvictErrorRetryDelay is left at 0, so a 429 is retried at once (after a GET of the pod).
	helper := &drain.Helper{
		Ctx:                 ctx,
		Client:              client,
		Force:               true,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  true,
		GracePeriodSeconds:  -1,
		Timeout:             *timeout,
		Out:                 os.Stdout,
		ErrOut:              os.Stderr,
	}

	start := time.Now()
	n, err := client.CoreV1().Nodes().Get(ctx, *node, metav1.GetOptions{})
	if err != nil {
		fail(err)
	}
	if err := drain.RunCordonOrUncordon(helper, n, true); err != nil {
		fail(fmt.Errorf("cordon %s: %w", *node, err))
	}
	for attempt := 1; ; attempt++ {
		err := drain.RunNodeDrain(helper, *node)
		if err == nil {
			break
		}
		if *retry <= 0 || ctx.Err() != nil {
			fail(fmt.Errorf("drain %s, attempt %d: %s", *node, attempt, summary(err)))
		}
		fmt.Fprintf(os.Stderr, "godrain: drain attempt %d failed, again in %s: %s\n", attempt, *retry, summary(err))
		select {
		case <-ctx.Done():
			fail(fmt.Errorf("drain %s: %w", *node, ctx.Err()))
		case <-time.After(*retry):
		}
	}
	fmt.Printf("node/%s drained in %.2fs\n", *node, time.Since(start).Seconds())
}

// summary is one line for the helper's error, which joins one error per pod that failed.
func summary(err error) string {
	if agg, ok := err.(utilerrors.Aggregate); ok && len(agg.Errors()) > 1 {
		return fmt.Sprintf("%d pods failed, the first: %v", len(agg.Errors()), agg.Errors()[0])
	}
	return err.Error()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "godrain:", err)
	os.Exit(1)
}
