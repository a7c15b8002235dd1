package stacks_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// cfnLintAllowed are the findings the templates may have: W3005 is the
// DependsOn that CDK writes next to an implicit Ref/GetAtt dependency.
var cfnLintAllowed = map[string]bool{"W3005": true}

var cfnLintRule = regexp.MustCompile(`^([EWI]\d{4})\b`)

// TestTemplatesPassCfnLint runs cfn-lint on every synthesized template of
// two configurations: no error and no warning but W3005.
func TestTemplatesPassCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not on PATH (%v): install it with `pip install cfn-lint` (or `pipx install cfn-lint`)", err)
	}
	tests := []struct {
		name    string
		context map[string]any
	}{
		{"parked, email, mirrored", deployments["parked"]},
		{"mixed with retention and an adopted stream, account-agnostic", map[string]any{"mirrorMetrics": false,
			"streams": `[{"name":"orders","shardCount":0,"retentionHours":168},{"name":"clicks","shardCount":4},{"name":"legacy","existing":true}]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := synth(t, tt.context, false)
			dir := t.TempDir()
			var paths []string
			for name, tpl := range s.templates {
				body, err := json.MarshalIndent(tpl, "", " ")
				if err != nil {
					t.Fatalf("encode %s: %v", name, err)
				}
				path := filepath.Join(dir, name+".template.json")
				if err := os.WriteFile(path, body, 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, path)
			}
			sort.Strings(paths)
			// One run for all templates: cfn-lint's start-up dominates.
			var out bytes.Buffer
			cmd := exec.Command(lint, append([]string{"--regions", "us-east-1", "us-east-2", "--format", "parseable", "--"}, paths...)...)
			cmd.Stdout, cmd.Stderr = &out, &out
			runErr := cmd.Run()
			var findings []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line == "" {
					continue
				}
				// parseable: file:line:col:endline:endcol:rule:message
				rule := ""
				for _, path := range paths {
					if rest, ok := strings.CutPrefix(line, path+":"); ok {
						if parts := strings.SplitN(rest, ":", 6); len(parts) == 6 {
							if m := cfnLintRule.FindStringSubmatch(parts[4]); m != nil {
								rule = m[1]
							}
						}
						line = filepath.Base(path) + ":" + rest
					}
				}
				if cfnLintAllowed[rule] {
					continue
				}
				findings = append(findings, line)
			}
			for _, f := range findings {
				t.Errorf("cfn-lint: %s", f)
			}
			exit, isExit := runErr.(*exec.ExitError)
			switch {
			case runErr != nil && !isExit:
				t.Errorf("run cfn-lint: %v", runErr)
			case isExit && len(findings) == 0 && exit.ExitCode()&^4 != 0:
				// Exit bits: 2 error, 4 warning, 8 informational; 1 is a
				// crash. The allowed warnings set 4 only.
				t.Errorf("cfn-lint exited %d with no finding it reported: %s", exit.ExitCode(), out.String())
			}
		})
	}
}
