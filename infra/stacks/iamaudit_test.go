package stacks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
	"github.com/kinesis-crr/kinesis-crr/pkg/cdctask"
	"github.com/kinesis-crr/kinesis-crr/pkg/failover"
	"github.com/kinesis-crr/kinesis-crr/pkg/localdeploy"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/pause"
	"github.com/kinesis-crr/kinesis-crr/pkg/promisecheck"
)

// storyAppID marks the story's own producers and readers, so that a call
// with no application id at all can only be a function's client that lost
// its own.
const storyAppID = "iam-audit-story"

// roleOfCaller is the role whose permissions each caller's calls need in
// Lambda. The event source mappings read their streams with the
// replicator's execution role.
var roleOfCaller = map[string]string{
	localdeploy.ReplicatorAppID: "ReplicatorRole",
	localdeploy.MappingAppID:    "ReplicatorRole",
	localdeploy.FailoverAppID:   "FailoverRole",
}

// TestEveryAWSCallOfTheFunctionsIsAllowedByTheirSynthesizedRole runs both
// functions on the local world, which enforces no IAM, through a short
// story (replication, a drain-mode failover, a rewind failback, status in
// both Regions), and checks every call each function made against the
// statements of its role in the synthesized stack of its Region: an
// action or resource the policy misses would otherwise be found only in
// production.
func TestEveryAWSCallOfTheFunctionsIsAllowedByTheirSynthesizedRole(t *testing.T) {
	s := deployment(t, "default")
	calls := runAuditStory(t, s.settings)

	// The audit is only as good as the story: these calls are why it runs
	// (the checkpoint reads, drain marks and fence reads the local world
	// cannot refuse), so a story that stops making them fails here.
	cfg, cp := stacks.ActiveRegionTableName, stacks.CheckpointTableName
	stream := s.settings.StreamNames()[0]
	for _, want := range []struct{ caller, action, resource string }{
		{localdeploy.MappingAppID, "kinesis:GetRecords", stream},
		{localdeploy.ReplicatorAppID, "kinesis:PutRecords", stream},
		{localdeploy.ReplicatorAppID, "dynamodb:GetItem", cfg},
		{localdeploy.ReplicatorAppID, "dynamodb:GetItem", cp},
		{localdeploy.ReplicatorAppID, "dynamodb:PutItem", cp},
		{localdeploy.ReplicatorAppID, "dynamodb:UpdateItem", cp},
		{localdeploy.FailoverAppID, "dynamodb:PutItem", cfg},
		{localdeploy.FailoverAppID, "dynamodb:Query", cp},
		{localdeploy.FailoverAppID, "kinesis:ListShards", stream},
		{localdeploy.FailoverAppID, "kinesis:GetRecords", stream},
	} {
		if !slices.ContainsFunc(calls, func(c localworld.Call) bool {
			return c.Caller == want.caller && actionOf(c) == want.action && c.Resource == want.resource
		}) {
			t.Errorf("the story made no %s call on %s by %s: it no longer exercises what the audit is for", want.action, want.resource, want.caller)
		}
	}

	account := accountIn(s)
	for _, c := range calls {
		if c.Caller == storyAppID {
			continue
		}
		role, ok := roleOfCaller[c.Caller]
		if !ok {
			t.Errorf("%d %s calls on %q in %s by caller %q: no function of localdeploy has that application id", c.Count, actionOf(c), c.Resource, c.Region, c.Caller)
			continue
		}
		stackName := stacks.RegionStackName(c.From)
		tpl, ok := s.templates[stackName]
		if !ok {
			t.Errorf("%s in %s: no stack %s in the synthesized app", c.Caller, c.From, stackName)
			continue
		}
		arn := callARN(c, account)
		if sid, ok := allowed(t, tpl, role, c.From, account, actionOf(c), arn); !ok {
			t.Errorf("%s in %s: %s on %s (%d calls) is allowed by no statement of %s in %s%s",
				c.Caller, c.From, actionOf(c), arn, c.Count, role, stackName, sid)
		}
	}
	t.Logf("the calls recorded:\n%s", formatCalls(calls))
}

// runAuditStory deploys both functions on a local world with settings'
// Regions, streams and tables and returns the calls the world recorded.
func runAuditStory(t *testing.T, settings stacks.Settings) []localworld.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, secondary := settings.PrimaryRegion, settings.SecondaryRegion
	w, err := localworld.Start(ctx, localworld.Options{
		Regions:          [2]string{primary, secondary},
		GlobalTableDelay: 50 * time.Millisecond,
		RecordCalls:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, st := range settings.Streams {
		if err := w.CreateStream(ctx, st.Name, int32(max(st.ShardCount, 1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.CreateTables(ctx, stacks.CheckpointTableName, stacks.ActiveRegionTableName); err != nil {
		t.Fatal(err)
	}
	d, err := localdeploy.Start(ctx, w, localdeploy.Options{
		Streams:      settings.StreamNames(),
		CacheTTL:     time.Second,
		SwitchSettle: time.Second,
		PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(ctx, primary); err != nil {
		t.Fatal(err)
	}

	story := &auditStory{t: t, w: w, d: d, streams: settings.StreamNames(), tasks: map[string]*cdctask.Task{}}
	for _, name := range story.streams {
		story.tasks[name] = cdctask.New(name, 20)
	}
	story.produce(ctx, primary, 40)
	story.waitReplicated(ctx, primary, secondary)
	// Records still on their way when the switch comes are what a drain
	// replicates, and marks drained, after it.
	story.produce(ctx, primary, 20)
	failed := story.invoke(ctx, secondary, map[string]any{"targetRegion": secondary, "mode": "drain", "expectedEpoch": 1, "reason": "iam audit"})
	story.waitDrained(ctx, secondary)
	story.waitReplicated(ctx, primary, secondary)
	story.produce(ctx, secondary, 30)
	story.waitReplicated(ctx, secondary, primary)

	story.sleepUntil(ctx, settledAt(t, failed))
	back := story.invoke(ctx, primary, map[string]any{"targetRegion": primary, "expectedEpoch": 2, "reason": "iam audit failback"})
	story.sleepUntil(ctx, back.ProducersMayStartAt)
	story.produce(ctx, primary, 20)
	story.waitReplicated(ctx, primary, secondary)
	for _, region := range []string{primary, secondary} {
		story.invoke(ctx, region, map[string]any{"action": "status"})
	}
	if err := d.Err(); err != nil {
		t.Fatalf("mappings stopped: %v", err)
	}
	return w.Calls()
}

// auditStory is the producers, readers and operator of runAuditStory.
type auditStory struct {
	t       *testing.T
	w       *localworld.World
	d       *localdeploy.Deployment
	streams []string
	tasks   map[string]*cdctask.Task
}

func (s *auditStory) kinesis(region string) *kinesis.Client {
	return s.w.KinesisClient(region, region, func(o *kinesis.Options) { o.AppID = storyAppID })
}

func (s *auditStory) produce(ctx context.Context, region string, n int) {
	s.t.Helper()
	for _, name := range s.streams {
		if err := s.tasks[name].Produce(ctx, region, s.kinesis(region), n); err != nil {
			s.t.Fatalf("produce into %s in %s: %v", name, region, err)
		}
	}
}

// waitReplicated waits until every record produced in from is in to's
// stream.
func (s *auditStory) waitReplicated(ctx context.Context, from, to string) {
	s.t.Helper()
	for _, name := range s.streams {
		want := map[string]bool{}
		for _, w := range s.tasks[name].Written() {
			if w.Region == from {
				want[w.ID] = true
			}
		}
		s.waitFor(ctx, fmt.Sprintf("%d records of %s from %s in %s", len(want), name, from, to), func() (bool, error) {
			recs, err := promisecheck.ReadStream(ctx, s.kinesis(to), name)
			missing := maps.Clone(want)
			for _, r := range recs {
				delete(missing, r.ID)
			}
			return err == nil && len(missing) == 0, err
		})
	}
}

// waitDrained polls status in region until every stream reports the drain
// of the Region it left complete.
func (s *auditStory) waitDrained(ctx context.Context, region string) {
	s.t.Helper()
	s.waitFor(ctx, "drain complete in "+region+"'s status", func() (bool, error) {
		rep := s.invoke(ctx, region, map[string]any{"action": "status"})
		for _, st := range rep.Streams {
			if st.DrainComplete == nil || !*st.DrainComplete {
				return false, nil
			}
		}
		return len(rep.Streams) == len(s.streams), nil
	})
}

func (s *auditStory) invoke(ctx context.Context, region string, payload map[string]any) failover.Report {
	s.t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		s.t.Fatal(err)
	}
	rep, err := s.d.Failover(region).Handle(ctx, raw)
	if err != nil {
		s.t.Fatalf("failover %s in %s: %v", raw, region, err)
	}
	return rep
}

func (s *auditStory) sleepUntil(ctx context.Context, at *time.Time) {
	s.t.Helper()
	if at == nil {
		return
	}
	if err := pause.For(ctx, time.Until(*at)); err != nil {
		s.t.Fatalf("wait until %v: %v", at, err)
	}
}

// waitFor polls cond until it holds; the story's context bounds the wait.
func (s *auditStory) waitFor(ctx context.Context, what string, cond func() (bool, error)) {
	s.t.Helper()
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if err := pause.For(ctx, 100*time.Millisecond); err != nil {
			s.t.Fatalf("no %s before the story's deadline (last error %v)", what, last)
		}
	}
}

// settledAt is the latest settledAt of a switch's streams: a switch back
// before then is refused.
func settledAt(t *testing.T, rep failover.Report) *time.Time {
	t.Helper()
	var latest *time.Time
	for _, st := range rep.Streams {
		if st.SettledAt == nil {
			t.Fatalf("switch of %s: no settledAt in %+v", st.StreamName, st)
		}
		if latest == nil || st.SettledAt.After(*latest) {
			latest = st.SettledAt
		}
	}
	return latest
}

// actionOf is the IAM action a call needs: the localworld service names
// are the IAM service prefixes.
func actionOf(c localworld.Call) string { return c.Service + ":" + c.Operation }

// callARN is the ARN IAM authorises the call on; "*" for a call that names
// no resource.
func callARN(c localworld.Call, account string) string {
	if c.Resource == "" {
		return "*"
	}
	kind := "table"
	if c.Service == localworld.Kinesis {
		kind = "stream"
	}
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", c.Service, c.Region, account, kind, c.Resource)
}

// allowed says whether role's policies in tpl allow action on arn as IAM
// evaluates identity policies: some Allow statement matches both, and no
// Deny statement does. A statement with a condition is not counted, since
// a recorded call carries nothing to evaluate it against. When not
// allowed, why says which Deny refused it, if one did.
func allowed(t *testing.T, tpl map[string]any, role, region, account, action, arn string) (why string, ok bool) {
	t.Helper()
	pseudo := strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::Region}", region, "${AWS::AccountId}", account, "${AWS::URLSuffix}", "amazonaws.com")
	var allow bool
	for _, st := range roleStatements(t, tpl, role) {
		if _, ok := st["NotAction"]; ok {
			t.Fatalf("%s: a NotAction statement, which the audit does not evaluate: %v", role, st)
		}
		if _, ok := st["NotResource"]; ok {
			t.Fatalf("%s: a NotResource statement, which the audit does not evaluate: %v", role, st)
		}
		matches := slices.ContainsFunc(renderAll(st["Action"]), func(p string) bool { return iamMatch(strings.ToLower(p), strings.ToLower(action)) }) &&
			slices.ContainsFunc(renderAll(st["Resource"]), func(p string) bool { return iamMatch(pseudo.Replace(p), arn) })
		switch {
		case !matches:
		case st["Effect"] == "Deny":
			return fmt.Sprintf(" (denied by %v)", st["Sid"]), false
		case st["Condition"] == nil:
			allow = true
		}
	}
	return "", allow
}

// roleStatements returns the statements of every policy attached to the
// role with construct id role. The audit sees only what the template
// holds, so a role with managed or inline policies fails it.
func roleStatements(t *testing.T, tpl map[string]any, role string) []map[string]any {
	t.Helper()
	found := false
	for _, r := range resources(tpl, "AWS::IAM::Role") {
		if strings.HasPrefix(r.LogicalID, role) {
			found = true
			for _, p := range []string{"ManagedPolicyArns", "Policies"} {
				if _, ok := r.Properties[p]; ok {
					t.Fatalf("role %s has %s, which the audit cannot see into", r.LogicalID, p)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no role %s in the template", role)
	}
	var out []map[string]any
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		if !slices.ContainsFunc(renderAll(p.Properties["Roles"]), func(r string) bool { return strings.HasPrefix(r, "${Ref:"+role) }) {
			continue
		}
		for _, raw := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, raw.(map[string]any))
		}
	}
	return out
}

// iamMatch matches value against an IAM pattern, where * stands for any
// run of characters (a slash or colon too) and ? for any one.
func iamMatch(pattern, value string) bool {
	// match[j]: pattern[:i] matches value[:j], for the i reached so far.
	match := make([]bool, len(value)+1)
	match[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(value)+1)
		switch pattern[i] {
		case '*':
			for j := range match {
				next[j] = match[j] || (j > 0 && next[j-1])
			}
		default:
			for j := 1; j <= len(value); j++ {
				next[j] = match[j-1] && (pattern[i] == '?' || pattern[i] == value[j-1])
			}
		}
		match = next
	}
	return match[len(value)]
}

func formatCalls(calls []localworld.Call) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "  %-22s from %s to %s: %-28s %-26s x%d\n", c.Caller, c.From, c.Region, actionOf(c), c.Resource, c.Count)
	}
	return b.String()
}

func TestIAMMatchTreatsStarAndQuestionMarkAsIAMDoes(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:dynamodb:us-east-1:1:table/t", true},
		{"arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:dynamodb:us-east-1:1:table/t2", false},
		{"arn:aws:dynamodb:*:1:table/t", "arn:aws:dynamodb:us-east-2:1:table/t", true},
		{"arn:aws:dynamodb:us-east-1:1:table/t/*", "arn:aws:dynamodb:us-east-1:1:table/t", false},
		{"arn:aws:dynamodb:us-east-1:1:table/t*", "arn:aws:dynamodb:us-east-1:1:table/t/index/i", true},
		{"arn:aws:kinesis:us-east-?:1:stream/s", "arn:aws:kinesis:us-east-2:1:stream/s", true},
		{"arn:aws:kinesis:us-east-?:1:stream/s", "arn:aws:kinesis:us-east-12:1:stream/s", false},
		{"*", "arn:aws:kinesis:us-east-1:1:stream/s", true},
		{"*", "*", true},
		{"kinesis:get*", "kinesis:getrecords", true},
		{"kinesis:get*", "kinesis:putrecords", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := iamMatch(tt.pattern, tt.value); got != tt.want {
			t.Errorf("iamMatch(%q, %q): got %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}
