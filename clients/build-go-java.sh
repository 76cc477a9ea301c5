#!/usr/bin/env bash
# Generates the Go and Java stubs with buf.gen.yaml and builds the two examples against them,
# with Debian 12's toolchains and libraries (README, "Go, Java and the rest").
#   clients/build-go-java.sh OUT   ->  OUT/listproducts (Go), OUT/java (Java classes)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
module="$out/go/src/github.com/cartservice/cartservice"  # the go_package_prefix, in a GOPATH
mkdir -p "$module/clients/go" "$out/java"
(cd "$root" && .tools/node_modules/.bin/buf generate --template buf.gen.yaml -o "$module")

# Go in GOPATH mode, against the Go libraries Debian installs under /usr/share/gocode.
cp -r "$root/clients/go/listproducts" "$module/clients/go/"
(cd "$module" && GO111MODULE=off GOPATH="$out/go:/usr/share/gocode" GOCACHE="$out/go/cache" \
	GOFLAGS= go build -o "$out/listproducts" ./clients/go/listproducts)

# Java against the jars Debian installs under /usr/share/java.
javac -nowarn -d "$out/java" -cp "/usr/share/java/*" \
	$(find "$module/gen/java" -name '*.java') "$root/clients/java/ListProducts.java" 2>&1 \
	| grep -v '^Note: ' || true
test -f "$out/java/ListProducts.class"
