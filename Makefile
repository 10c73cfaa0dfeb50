# drydock — `make help` lists the targets. The two that matter: `make demo` and `make test`.
SHELL := /bin/bash
CLUSTER := e2e/cluster
KUBECONFIG_PATH := $(CURDIR)/.cache/kubeconfig
PROM := config/prometheus
export PATH := $(CURDIR)/.cache/bin:$(PATH)

.DEFAULT_GOAL := help
# The chart with every optional object on: make chart renders and lints it so too.
CHART_ALL_ON := --set serviceMonitor.enabled=true,podMonitor.enabled=true,prometheusRule.enabled=true,dashboard.enabled=true
.PHONY: chart chart-sync
.PHONY: help build test unit lint rules prometheusrule fmt crds e2e e2e-oldest bench cluster-build cluster-up cluster-down cluster-pin demo clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

build: ## build the drydock binary (target/debug/drydock)
	cargo build --bins

test: lint rules chart unit e2e e2e-oldest ## everything CI runs: lint, alert rules, the Helm chart, unit tests, end-to-end tests on the newest and the oldest Kubernetes

unit: ## fast unit tests of the pure logic and the CRD drift check (no cluster)
	cargo test --workspace --lib --bins --tests --exclude drydock-e2e

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

rules: ## promtool checks config/prometheus/alerts.yaml and runs its unit tests; prometheusrule.yaml must be generated from it
	$(CLUSTER)/build.sh prometheus
	promtool check rules $(PROM)/alerts.yaml
	promtool test rules $(PROM)/alerts_test.yaml
	@$(PROM)/prometheusrule.sh | diff -u $(PROM)/prometheusrule.yaml - || \
	  { echo "$(PROM)/prometheusrule.yaml differs from what alerts.yaml generates: run 'make prometheusrule'" >&2; exit 1; }

chart: ## helm lint and helm template of charts/drydock (defaults, every toggle on); its copies and objects must match config/ and crds/
	. $(CLUSTER)/versions.env && $(CLUSTER)/build.sh helm $$K8S_NEWEST
	charts/sync.sh --check
	helm lint --strict charts/drydock
	helm lint --strict charts/drydock $(CHART_ALL_ON)
	helm template drydock charts/drydock --namespace drydock-system >/dev/null
	helm template drydock charts/drydock --namespace drydock-system $(CHART_ALL_ON) >/dev/null
	@# values.schema.json refuses a mistyped value by its path, before anything reaches a cluster.
	helm template drydock charts/drydock --set replicas=two 2>&1 | grep -q "at '/replicas': got string, want integer"
	helm template drydock charts/drydock --set image.repo=x 2>&1 | grep -q "additional properties 'repo' not allowed"
	@# kubectl kustomize renders config/ for the comparison; the newest Kubernetes' kubectl, from the build cache.
	. $(CLUSTER)/versions.env && \
	  KUBECTL=$${DRYDOCK_BIN_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/drydock/bin}/kubernetes-$$K8S_NEWEST/kubectl \
	  cargo test -p drydock-e2e --test chart

chart-sync: ## copy crds/, the alert rules and the Grafana dashboard into charts/drydock (Helm reads only the chart's files)
	charts/sync.sh

prometheusrule: ## regenerate config/prometheus/prometheusrule.yaml (the Prometheus Operator's copy) from alerts.yaml
	$(PROM)/prometheusrule.sh > $(PROM)/prometheusrule.yaml

fmt: ## format the code
	cargo fmt --all

crds: ## regenerate crds/ from the Rust types
	cargo run --quiet -- crd --write crds
	charts/sync.sh

demo: ## a real local control plane and one node maintenance end to end (the cluster stays up; make cluster-down)
	e2e/demo.sh

e2e: cluster-build ## end-to-end tests against a real kube-apiserver/etcd/controller-manager/scheduler + kwok (newest Kubernetes)
	e2e/run.sh

e2e-oldest: cluster-build ## the same end-to-end tests, chaos included, on the oldest supported Kubernetes (e2e/cluster/versions.env)
	. $(CLUSTER)/versions.env && K8S_VERSION=$$K8S_OLDEST e2e/run.sh

bench: cluster-build ## drydock vs kubectl drain and the Go drain helper on the local control plane: table + target/bench/results.json (BENCH_* knobs: e2e/src/bench/mod.rs)
	$(CLUSTER)/build.sh godrain
	cargo build --release --bin drydock
	cargo build --release -p drydock-e2e --bin bench
	@set -euo pipefail; \
	out=$$($(CLUSTER)/up.sh); echo "$$out"; \
	started=no; [[ $$out == *"already up"* ]] || started=yes; \
	trap 'if [ $$started = yes ]; then $(CLUSTER)/down.sh; fi' EXIT; \
	kubectl --kubeconfig $(KUBECONFIG_PATH) apply --server-side --force-conflicts \
	  -f crds/nodemaintenance.yaml -f crds/maintenanceschedule.yaml >/dev/null; \
	kubectl --kubeconfig $(KUBECONFIG_PATH) wait --for condition=Established --timeout 60s \
	  crd/nodemaintenances.drydock.dev crd/maintenanceschedules.drydock.dev >/dev/null; \
	target=$${CARGO_TARGET_DIR:-target}; \
	DRYDOCK_BIN=$$target/release/drydock $$target/release/bench

.PHONY: image krew-archive
image: ## the OCI image, built here without pulling (buildah FROM scratch, static musl binary): target/image/drydock.oci.tar
	image/build.sh

# The e2e suites include the image's own test (e2e/tests/image.rs), which runs the binary from that archive.
e2e e2e-oldest: image

krew-archive: ## the krew archive of `kubectl drydock` (linux/amd64) in target/krew/; writes its sha256 into plugins/drydock.yaml
	image/krew.sh

cluster-build: ## build the pinned control-plane binaries, Prometheus and helm (cached outside the checkout, reused)
	$(CLUSTER)/build.sh

cluster-up: cluster-build ## start the local control plane on 127.0.0.1; kubeconfig in .cache/kubeconfig
	$(CLUSTER)/up.sh

cluster-down: ## stop it and check no process or port is left
	$(CLUSTER)/down.sh

cluster-pin: ## regenerate the helper Go modules after changing e2e/cluster/versions.env (all, or WHAT="k8s etcd prometheus godrain")
	$(CLUSTER)/pin.sh $(WHAT)

clean: cluster-down ## stop the cluster and remove build output
	cargo clean
	rm -rf .cache
