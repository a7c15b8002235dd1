package localinvoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

const region = "us-east-1"

// start serves functions until the test ends and returns a Lambda client
// pointed at them, as the operator CLI builds its own.
func start(t *testing.T, functions map[string]HandlerFunc) (*Server, *lambda.Client) {
	t.Helper()
	s, err := Start(context.Background(), region, functions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := lambda.NewFromConfig(localaws.Config(region), func(o *lambda.Options) {
		o.BaseEndpoint = aws.String(s.URL())
		o.RetryMaxAttempts = 1
	})
	return s, c
}

func echo(_ context.Context, payload []byte) ([]byte, error) {
	return payload, nil
}

func TestInvokeAnswersAsLambdaDoes(t *testing.T) {
	var seen lambdacontext.LambdaContext
	_, c := start(t, map[string]HandlerFunc{
		"echo": func(ctx context.Context, payload []byte) ([]byte, error) {
			if lc, ok := lambdacontext.FromContext(ctx); ok {
				seen = *lc
			}
			return payload, nil
		},
		"fails": func(context.Context, []byte) ([]byte, error) {
			return nil, fmt.Errorf("no config item for stream %q: %w", "orders", errors.New("missing"))
		},
		"panics": func(context.Context, []byte) ([]byte, error) {
			panic("boom")
		},
	})
	arn := "arn:aws:lambda:" + region + ":123456789012:function:echo"
	cases := []struct {
		name     string
		in       lambda.InvokeInput
		wantBody string
		// wantFunctionError is the X-Amz-Function-Error the SDK reports.
		wantFunctionError string
		// wantErr, if set, is the typed error the call must fail with.
		wantErr any
	}{
		{name: "a function's response is the payload", in: lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"action":"status"}`)},
			wantBody: `{"action":"status"}`},
		{name: "no payload reaches the function as {}", in: lambda.InvokeInput{FunctionName: aws.String("echo")},
			wantBody: `{}`},
		{name: "a full ARN names the function at its end", in: lambda.InvokeInput{FunctionName: aws.String(arn), Payload: []byte(`[1]`)},
			wantBody: `[1]`},
		{name: "a partial ARN names it too", in: lambda.InvokeInput{FunctionName: aws.String("123456789012:function:echo"), Payload: []byte(`2`)},
			wantBody: `2`},
		{name: "the $LATEST qualifier is the function", in: lambda.InvokeInput{FunctionName: aws.String("echo"), Qualifier: aws.String("$LATEST"), Payload: []byte(`3`)},
			wantBody: `3`},
		{name: "RequestResponse is served", in: lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeRequestResponse, Payload: []byte(`4`)},
			wantBody: `4`},
		{name: "a handler error is an Unhandled function error with the runtime's body", in: lambda.InvokeInput{FunctionName: aws.String("fails"), Payload: []byte(`{}`)},
			wantFunctionError: "Unhandled", wantBody: `{"errorMessage":"no config item for stream \"orders\": missing","errorType":"wrapError"}`},
		{name: "a handler panic is an Unhandled function error", in: lambda.InvokeInput{FunctionName: aws.String("panics")},
			wantFunctionError: "Unhandled", wantBody: `{"errorMessage":"boom","errorType":"string"}`},
		{name: "an unknown name is ResourceNotFoundException", in: lambda.InvokeInput{FunctionName: aws.String("kds-crr-nothing")},
			wantErr: new(*types.ResourceNotFoundException)},
		{name: "an ARN of another Region is not found here", in: lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-2:123456789012:function:echo")},
			wantErr: new(*types.ResourceNotFoundException)},
		{name: "a version other than $LATEST is not found", in: lambda.InvokeInput{FunctionName: aws.String("echo"), Qualifier: aws.String("7")},
			wantErr: new(*types.ResourceNotFoundException)},
		{name: "an Event invocation is refused", in: lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeEvent},
			wantErr: new(*types.InvalidParameterValueException)},
		{name: "a DryRun invocation is refused", in: lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeDryRun},
			wantErr: new(*types.InvalidParameterValueException)},
		{name: "a payload that is not JSON is refused", in: lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"action":`)},
			wantErr: new(*types.InvalidRequestContentException)},
		{name: "a payload over 6 MB is refused", in: lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`"` + strings.Repeat("x", MaxPayload) + `"`)},
			wantErr: new(*types.RequestTooLargeException)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Invoke(context.Background(), &tc.in)
			if tc.wantErr != nil {
				if err == nil || !errors.As(err, tc.wantErr) {
					t.Fatalf("got error %v, want a %T", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out.Payload); got != tc.wantBody {
				t.Errorf("got payload %s, want %s", got, tc.wantBody)
			}
			if got := aws.ToString(out.FunctionError); got != tc.wantFunctionError {
				t.Errorf("got FunctionError %q, want %q", got, tc.wantFunctionError)
			}
			if out.StatusCode != http.StatusOK || aws.ToString(out.ExecutedVersion) != "$LATEST" {
				t.Errorf("got status %d, executed version %q, want 200 and $LATEST", out.StatusCode, aws.ToString(out.ExecutedVersion))
			}
		})
	}
	if want := "arn:aws:lambda:" + region + ":" + localaws.AccountID + ":function:echo"; seen.InvokedFunctionArn != want || seen.AwsRequestID == "" {
		t.Errorf("got lambdacontext %+v, want the function's ARN %s and a request id", seen, want)
	}
}

func TestTheNotFoundMessageNamesTheFunction(t *testing.T) {
	_, c := start(t, map[string]HandlerFunc{"echo": echo})
	_, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("kds-crr-failover")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want ResourceNotFoundException", err)
	}
	if want := "Function not found: arn:aws:lambda:us-east-1:" + localaws.AccountID + ":function:kds-crr-failover"; aws.ToString(nf.Message) != want || aws.ToString(nf.Type) != "User" {
		t.Errorf("got message %q, type %q, want %q and User", aws.ToString(nf.Message), aws.ToString(nf.Type), want)
	}
}

// A caller that gives up cancels the function's context, and Close waits
// for the function to return.
func TestACallerThatGivesUpCancelsTheFunction(t *testing.T) {
	running := make(chan struct{})
	cancelled := make(chan error, 1)
	s, c := start(t, map[string]HandlerFunc{
		"slow": func(ctx context.Context, _ []byte) ([]byte, error) {
			close(running)
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	called := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("slow")})
		called <- err
	}()
	<-running
	cancel()
	if err := <-called; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v from the cancelled call, want context.Canceled", err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v in the function, want its context cancelled", err)
	}
	s.Close()
}

// Close ends what still runs, waits for it, and then nothing answers.
func TestCloseStopsRunningFunctionsAndTheListener(t *testing.T) {
	running, sawCancel, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	s, c := start(t, map[string]HandlerFunc{
		"slow": func(ctx context.Context, _ []byte) ([]byte, error) {
			close(running)
			<-ctx.Done()
			close(sawCancel)
			<-release
			return nil, ctx.Err()
		},
	})
	called := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("slow")})
		called <- err
	}()
	<-running
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	<-sawCancel
	select {
	case <-closed:
		t.Error("Close returned while a function was still running")
	default:
	}
	close(release)
	<-closed
	if err := <-called; err == nil {
		t.Error("got an answer from a function stopped by Close, want an error")
	}
	s.Close() // idempotent
	if resp, err := http.Post(s.URL()+"/2015-03-31/functions/slow/invocations", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after Close (%s)", s.URL(), resp.Status)
	}
}

func TestStartRefusesBadFunctionNames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		functions map[string]HandlerFunc
	}{
		{"an empty name", map[string]HandlerFunc{"": echo}},
		{"a name with a qualifier", map[string]HandlerFunc{"echo:1": echo}},
		{"no handler", map[string]HandlerFunc{"echo": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := Start(context.Background(), region, tc.functions); err == nil {
				s.Close()
				t.Fatal("got a server, want an error")
			}
		})
	}
}

func TestOtherOperationsAreUnknown(t *testing.T) {
	s, _ := start(t, map[string]HandlerFunc{"echo": echo})
	resp, err := http.Get(s.URL() + "/2015-03-31/functions/echo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Amzn-Errortype") != "UnknownOperationException" || body.Message == "" {
		t.Errorf("got %s %q %q, want 404 UnknownOperationException with a message", resp.Status, resp.Header.Get("X-Amzn-Errortype"), body.Message)
	}
}
