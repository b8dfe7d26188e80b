#!/bin/sh
# The test bed's SBOM generator for BuildKit (hack/standins.sh puts it in
# standin/syft-scanner with syft, built from its Go module): BuildKit mounts
# what it scans at $BUILDKIT_SCAN_SOURCE and takes in-toto statements from
# $BUILDKIT_SCAN_DESTINATION, as the scanner protocol of
# docker/buildkit-syft-scanner (which the test bed cannot pull) says. This
# is that protocol around syft itself: one SPDX statement of the source.
set -eu
syft scan "dir:$BUILDKIT_SCAN_SOURCE" --quiet --output "spdx-json=/tmp/sbom.json"
{
	printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],"predicate":'
	cat /tmp/sbom.json
	printf '}\n'
} >"$BUILDKIT_SCAN_DESTINATION/sbom.spdx.json"
