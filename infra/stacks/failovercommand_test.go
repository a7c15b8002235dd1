package stacks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/lag"
	"github.com/kinesis-crr/kinesis-crr/pkg/operator"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
)

// TestFailoverCommandOutputIsAKdscrrCallThatActivatesItsRegion runs the
// FailoverCommand output of each Region stack through kdscrr itself
// (operator.Main, with a connector that records the invocation): it must be
// a command kdscrr accepts, anywhere (no cdk.json, no KDSCRR_REGIONS), that
// invokes the deployment's failover function in the stack's own Region
// with a failover to that Region. A deployment outside us-east-1/us-east-2
// shows that the Regions come from the deployment, not from defaults.
func TestFailoverCommandOutputIsAKdscrrCallThatActivatesItsRegion(t *testing.T) {
	s := synth(t, map[string]any{"account": testAccount, "primaryRegion": "eu-west-1", "secondaryRegion": "eu-central-1"}, false)
	for _, region := range []string{"eu-west-1", "eu-central-1"} {
		t.Run(region, func(t *testing.T) {
			outputs := s.region(region)["Outputs"].(map[string]any)
			cmd := render(outputs["FailoverCommand"].(map[string]any)["Value"])
			words, err := shellWords(cmd)
			if err != nil {
				t.Fatalf("FailoverCommand %q: %v", cmd, err)
			}
			if len(words) < 2 || words[0] != "kdscrr" {
				t.Fatalf("FailoverCommand %q: want a kdscrr command", cmd)
			}
			rec := &invocations{}
			var stdout, stderr bytes.Buffer
			code := operator.Main(context.Background(), words[1:], operator.Env{
				Stdout: &stdout, Stderr: &stderr, Dir: t.TempDir(),
				Getenv:  func(string) string { return "" },
				Connect: func(endpoints.File, string) operator.Connector { return rec },
			})
			if code != operator.ExitOK {
				t.Fatalf("FailoverCommand %q: kdscrr exited %d, want %d\n%s", cmd, code, operator.ExitOK, stderr.String())
			}
			if len(rec.calls) != 1 {
				t.Fatalf("FailoverCommand %q: got invocations %+v, want one", cmd, rec.calls)
			}
			c := rec.calls[0]
			if c.region != region || c.function != stacks.FailoverFunctionName {
				t.Errorf("FailoverCommand %q: got %s invoked in %s, want %s in %s (a failover is invoked in the Region it activates)",
					cmd, c.function, c.region, stacks.FailoverFunctionName, region)
			}
			req, err := failover.DecodeRequest(c.payload, failover.Settings{Regions: s.settings.Regions()})
			if err != nil {
				t.Fatalf("FailoverCommand %q: kdscrr sent %s, which the failover function refuses: %v", cmd, c.payload, err)
			}
			if req.Action != failover.ActionFailover || req.TargetRegion != region || req.Reason != "<why>" || req.DryRun {
				t.Errorf("FailoverCommand %q: got request %+v, want a failover to %s with reason <why>", cmd, req, region)
			}

			// The aws CLI form sends a payload the function accepts, to
			// the same function in the same Region.
			v2 := render(outputs["FailoverCommandAwsCliV2"].(map[string]any)["Value"])
			words, err = shellWords(v2)
			if err != nil {
				t.Fatalf("FailoverCommandAwsCliV2 %q: %v", v2, err)
			}
			flag := func(name string) string {
				i := slices.Index(words, name)
				if i < 0 || i+1 >= len(words) {
					t.Fatalf("FailoverCommandAwsCliV2 %q: no %s", v2, name)
				}
				return words[i+1]
			}
			if flag("--region") != region || flag("--function-name") != stacks.FailoverFunctionName || flag("--cli-binary-format") != "raw-in-base64-out" {
				t.Errorf("FailoverCommandAwsCliV2 %q: want %s in %s with the payload sent raw", v2, stacks.FailoverFunctionName, region)
			}
			req, err = failover.DecodeRequest([]byte(flag("--payload")), failover.Settings{Regions: s.settings.Regions()})
			if err != nil {
				t.Fatalf("FailoverCommandAwsCliV2 %q: the failover function refuses the payload: %v", v2, err)
			}
			if req.TargetRegion != region || req.Reason != "<why>" {
				t.Errorf("FailoverCommandAwsCliV2 %q: got request %+v, want a failover to %s with reason <why>", v2, req, region)
			}
		})
	}
}

// shellWords splits s as a POSIX shell would a command made of plain words
// and single-quoted strings; anything else a shell would interpret is an
// error, since an operator pastes the output into one.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("\"\\$`;&|<>()*?[]#~!{}\t\n", r):
			return nil, fmt.Errorf("unquoted %q: want plain words and single-quoted strings", r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated single quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// invocations is an operator.Connector that records Lambda invocations and
// answers each with a report of one switched stream; every other client is
// an error, since a failover needs none.
type invocations struct {
	mu    sync.Mutex
	calls []invocation
}

type invocation struct {
	region, function string
	payload          []byte
}

func (r *invocations) Region(name string) operator.Region { return invocationRegion{r: r, name: name} }

type invocationRegion struct {
	r    *invocations
	name string
}

func (g invocationRegion) Lambda(context.Context, time.Duration, int) (operator.InvokeAPI, error) {
	return g, nil
}

func (g invocationRegion) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	g.r.mu.Lock()
	g.r.calls = append(g.r.calls, invocation{region: g.name, function: aws.ToString(in.FunctionName), payload: in.Payload})
	g.r.mu.Unlock()
	out, err := json.Marshal(failover.Report{ActiveRegion: g.name, Streams: []failover.StreamReport{{StreamName: "example-stream-1", Status: failover.StatusSwitched, ActiveRegion: g.name, Epoch: 2}}})
	if err != nil {
		return nil, fmt.Errorf("encode the report: %w", err)
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, nil
}

func (g invocationRegion) Kinesis(context.Context) (streamread.API, error) {
	return nil, errors.New("a failover reads no Kinesis stream from the operator's side")
}

func (g invocationRegion) DynamoDB(context.Context) (operator.DynamoDBAPI, error) {
	return nil, errors.New("a failover reads no table from the operator's side")
}

func (g invocationRegion) CloudWatch(context.Context) (lag.MetricsAPI, error) {
	return nil, errors.New("a failover reads no metric")
}
