// Package localinvoke serves the Lambda Invoke API on loopback for functions
// that run in this process, so that a process that cannot share its memory
// (the operator CLI, pointed at an endpoints file) calls them with the real
// SDK, as it calls Lambda: `POST /2015-03-31/functions/{name}/invocations`,
// RequestResponse only.
//
// The answers are Lambda's: 200 with the function's JSON; a function error
// is 200 too, with X-Amz-Function-Error: Unhandled and the runtime's
// {"errorMessage", "errorType"} body (what the Go runtime reports for an
// error a handler returns); an unknown function is 404
// ResourceNotFoundException; a request Lambda would refuse is 4xx with its
// error type in x-amzn-ErrorType, which is what the SDK decodes into its
// typed errors.
package localinvoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/kinesis-crr/kinesis-crr/pkg/localaws"
)

// HandlerFunc is one function: the invocation's payload in, its response
// out, as lambda.Handler's Invoke has them. ctx ends when the caller gives
// up or the server closes.
type HandlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// MaxPayload is Lambda's limit on a synchronous invocation's request
// payload (6 MB).
const MaxPayload = 6 * 1024 * 1024

// Server serves named functions over the Invoke API. Its methods are safe
// for concurrent use.
type Server struct {
	region    string
	functions map[string]HandlerFunc
	url       string
	srv       *http.Server
	served    chan struct{}

	// ctx ends at Close, so that a handler still running learns of it
	// even if its connection lingers.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	once     sync.Once
}

// Start listens on a free loopback port and serves functions, keyed by
// function name, as Region region's Lambda would. ctx bounds the listen
// only; the server runs until Close.
func Start(ctx context.Context, region string, functions map[string]HandlerFunc) (*Server, error) {
	if region == "" {
		return nil, errors.New("localinvoke: empty Region")
	}
	fns := make(map[string]HandlerFunc, len(functions))
	for name, fn := range functions {
		if name == "" || strings.Contains(name, ":") || fn == nil {
			return nil, fmt.Errorf("localinvoke: got function %q (handler set: %v), want a plain name and a handler", name, fn != nil)
		}
		fns[name] = fn
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("localinvoke: listen: %w", err)
	}
	s := &Server{region: region, functions: fns, url: "http://" + ln.Addr().String(), served: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", s.invoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("localinvoke serves only Invoke (POST /2015-03-31/functions/{name}/invocations), got %s %s", r.Method, r.URL.Path))
	})
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed at Close
	}()
	return s, nil
}

// URL is the server's base URL, the BaseEndpoint of a Lambda client.
func (s *Server) URL() string { return s.url }

// Close stops accepting invocations, cancels the context of those still
// running and returns once they have returned. Calling it again does
// nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		// Connections first: a function that ends on the cancel then has
		// no caller left to answer, as when Lambda stops one.
		_ = s.srv.Close()
		s.cancel()
		s.inflight.Wait()
		<-s.served
	})
}

// begin counts an invocation in, unless the server is closing: Close waits
// for every invocation begin let in.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	if !s.begin() {
		writeError(w, http.StatusInternalServerError, "ServiceException", "localinvoke: the server is closing")
		return
	}
	defer s.inflight.Done()

	name, qualifier, ok := s.functionName(r.PathValue("name"))
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		qualifier = q
	}
	fn := s.functions[name]
	if !ok || fn == nil || (qualifier != "" && qualifier != "$LATEST") {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+s.arn(r.PathValue("name"), qualifier))
		return
	}
	switch t := r.Header.Get("X-Amz-Invocation-Type"); t {
	case "", "RequestResponse":
	default:
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("localinvoke serves only InvocationType RequestResponse, got %q", t))
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayload))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", MaxPayload))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "read the request payload: "+err.Error())
		return
	}
	// Lambda hands a function {} when the caller sends no payload, and
	// refuses one that is not JSON before invoking anything.
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}

	requestID := newRequestID()
	ctx := lambdacontext.NewContext(r.Context(), &lambdacontext.LambdaContext{
		AwsRequestID:       requestID,
		InvokedFunctionArn: s.arn(name, ""),
	})
	out, err := call(ctx, fn, payload)
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		out = functionError(err)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out) // a caller that went away gets nothing, as from Lambda
}

// call runs fn, turning a panic into the error the Go runtime would report
// for it rather than a dropped connection.
func call(ctx context.Context, fn HandlerFunc, payload []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = messages.InvokeResponse_Error{Message: fmt.Sprint(p), Type: typeName(p)}
		}
	}()
	return fn(ctx, payload)
}

// functionName reads the function name and qualifier out of the path
// parameter, which may be a name, name:qualifier, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]). ok is false
// for an ARN of another Region or of something else than a function.
func (s *Server) functionName(v string) (name, qualifier string, ok bool) {
	parts := strings.Split(v, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn":
		if parts[2] != "lambda" || parts[3] != s.region || parts[5] != "function" || len(parts) > 8 {
			return "", "", false
		}
		parts = parts[6:]
	case len(parts) >= 3 && parts[1] == "function":
		parts = parts[2:]
	}
	switch len(parts) {
	case 1:
		return parts[0], "", true
	case 2:
		return parts[0], parts[1], true
	}
	return "", "", false
}

func (s *Server) arn(name, qualifier string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	arn := "arn:aws:lambda:" + s.region + ":" + localaws.AccountID + ":function:" + name
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return arn
}

// functionError is the payload Lambda returns for a function error: the
// runtime's errorMessage and errorType, the type named as the Go runtime
// names it (the error's type, without the pointer).
func functionError(err error) []byte {
	body := messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		body = ive
	}
	out, mErr := json.Marshal(body)
	if mErr != nil {
		// Two strings always encode; this only keeps the payload JSON.
		return []byte(`{"errorMessage":"localinvoke: encode the function error","errorType":"Runtime.MarshalError"}`)
	}
	return out
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// writeError answers as Lambda's API does for a request it refuses: the
// error type in x-amzn-ErrorType (what the SDK matches its typed errors
// on) and a JSON body with the message.
func writeError(w http.ResponseWriter, status int, errorType, message string) {
	body, _ := json.Marshal(struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
	}{"User", message}) // two strings always encode
	w.Header().Set("X-Amzn-Errortype", errorType)
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// newRequestID makes a request id shaped like Lambda's (a UUID).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
