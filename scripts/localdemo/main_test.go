package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kinesis-crr/kinesis-crr/scripts/localdemo/demo"
)

func TestParseAppliesFlagsOverTheDefaults(t *testing.T) {
	cfg, err := parse([]string{"--quick", "--mode", "drain", "--gt-delay", "0s", "--rtt", "0s", "--cache-ttl", "0s",
		"--impair", "us-east-1:3s", "--duration", "1s", "--keep", "--endpoints", "/tmp/e.json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.opts
	if o.Rate != demo.QuickOptions.Rate || o.Duration != time.Second || o.Mode != demo.ModeDrain ||
		o.GlobalTableDelay != 0 || o.RTT != 0 || o.CacheTTL != 0 ||
		o.Impair == nil || *o.Impair != (demo.Impairment{Region: "us-east-1", For: 3 * time.Second}) {
		t.Errorf("got %+v", o)
	}
	if !cfg.keep || cfg.endpointsFile != "/tmp/e.json" {
		t.Errorf("got keep %v, endpoints %q", cfg.keep, cfg.endpointsFile)
	}

	cfg, err = parse(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	d := demo.DefaultOptions
	if o := cfg.opts; o.Rate != d.Rate || o.Duration != d.Duration || o.CacheTTL != 5*time.Second ||
		o.GlobalTableDelay != time.Second || o.RTT != 20*time.Millisecond || o.Mode != demo.ModeRewind || o.Impair != nil {
		t.Errorf("got defaults %+v", o)
	}
}

func TestRunRefusesBadFlagsBeforeStarting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--duration", "-5s"}, "--duration"},
		{[]string{"--duration", "500ms"}, "--duration"},
		{[]string{"--mode", "replay"}, "--mode"},
		{[]string{"--impair", "eu-west-1"}, "--impair"},
		{[]string{"--impair", "us-east-1:later"}, "--impair"},
		{[]string{"--gt-delay", "-1s"}, "--gt-delay"},
		{[]string{"--rtt", "-1ms"}, "--rtt"},
		{[]string{"--cache-ttl", "1m"}, "--cache-ttl"},
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--shards", "0"}, "--shards"},
		{[]string{"--keys", "0"}, "--keys"},
		{[]string{"--endpoints", "/tmp/x.json"}, "--endpoints"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--duration", "soon"}, "-duration"},
		{[]string{"quick"}, `"quick"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: got exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), tc.flag) {
			t.Errorf("%q: got %q on stderr, want it to name %s", tc.args, stderr.String(), tc.flag)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: got %q on stdout, want nothing started", tc.args, stdout.String())
		}
	}
}

func TestCheckFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--check-flags", "--quick", "--impair", "us-east-2"}, &stdout, &stderr); code != exitOK || stdout.Len() != 0 {
		t.Errorf("got exit %d and %q, want 0 and nothing", code, stdout.String())
	}
	if code := run([]string{"--check-flags", "--help"}, &stdout, &stderr); code != exitHelp {
		t.Errorf("got exit %d for --check-flags --help, want %d", code, exitHelp)
	}
	if code := run([]string{"--help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stderr.String(), "-impair") {
		t.Errorf("got exit %d and usage %q, want 0 and the flags", code, stderr.String())
	}
}
