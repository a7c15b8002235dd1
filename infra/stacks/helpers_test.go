package stacks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/kinesis-crr/kinesis-crr/infra/stacks"
)

const testAccount = "123456789012"

var testCode = stacks.Code{
	ReplicatorDir: filepath.Join("testdata", "code", "replicator"),
	FailoverDir:   filepath.Join("testdata", "code", "failover"),
}

// cdkJSONContext is the context of the repository's cdk.json: the defaults
// and feature flags `cdk synth` runs with.
func cdkJSONContext(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode cdk.json: %v", err)
	}
	return doc.Context
}

// synthesized is one deployment's stacks and their templates.
type synthesized struct {
	app        awscdk.App
	settings   stacks.Settings
	deployment *stacks.Deployment
	templates  map[string]map[string]any // by stack name
}

// synth builds a deployment the way infra/main.go does, from cdk.json's
// context with overrides (a nil override removes the key).
func synth(t *testing.T, overrides map[string]any, nag bool) *synthesized {
	t.Helper()
	ctx := cdkJSONContext(t)
	for k, v := range overrides {
		if v == nil {
			delete(ctx, k)
			continue
		}
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	settings, err := stacks.ParseSettings(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	d, err := stacks.NewDeployment(app, settings, testCode)
	if err != nil {
		t.Fatalf("NewDeployment: %v", err)
	}
	if nag {
		stacks.CheckCompliance(app)
	}
	s := &synthesized{app: app, settings: settings, deployment: d, templates: map[string]map[string]any{}}
	for _, stack := range d.Stacks() {
		var tpl map[string]any
		mustNotPanic(t, "template of "+*stack.StackName(), func() {
			tpl = *assertions.Template_FromStack(stack, nil).ToJSON()
		})
		s.templates[*stack.StackName()] = tpl
	}
	return s
}

// mustNotPanic turns a jsii exception (a Go panic) into a test failure.
func mustNotPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: %v", what, r)
		}
	}()
	f()
}

type resource struct {
	LogicalID      string
	Type           string
	Properties     map[string]any
	DeletionPolicy string
	UpdateReplace  string
	DependsOn      []string
	Metadata       map[string]any
}

// resources returns the template's resources of type typ, sorted by
// logical ID so that failures read the same on every run.
func resources(tpl map[string]any, typ string) []resource {
	var out []resource
	for id, raw := range tpl["Resources"].(map[string]any) {
		r := raw.(map[string]any)
		if r["Type"] != typ {
			continue
		}
		res := resource{LogicalID: id, Type: typ}
		res.Properties, _ = r["Properties"].(map[string]any)
		res.DeletionPolicy, _ = r["DeletionPolicy"].(string)
		res.UpdateReplace, _ = r["UpdateReplacePolicy"].(string)
		res.Metadata, _ = r["Metadata"].(map[string]any)
		switch deps := r["DependsOn"].(type) {
		case string:
			res.DependsOn = []string{deps}
		case []any:
			for _, d := range deps {
				res.DependsOn = append(res.DependsOn, d.(string))
			}
		}
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out
}

// render turns CloudFormation intrinsics into readable text: Fn::Join is
// joined, a Ref of a pseudo parameter becomes ${AWS::...}, a Ref of a
// resource ${Ref:ID} and Fn::GetAtt ${ID.Attr}. It lets a test compare ARNs
// and JSON bodies as strings.
func render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64, bool:
		return fmt.Sprint(v)
	case map[string]any:
		if parts, ok := v["Fn::Join"].([]any); ok {
			var b strings.Builder
			for i, p := range parts[1].([]any) {
				if i > 0 {
					b.WriteString(parts[0].(string))
				}
				b.WriteString(render(p))
			}
			return b.String()
		}
		if ref, ok := v["Ref"].(string); ok {
			if strings.HasPrefix(ref, "AWS::") {
				return "${" + ref + "}"
			}
			return "${Ref:" + ref + "}"
		}
		if att, ok := v["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("${%s.%s}", att[0], att[1])
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func renderAll(v any) []string {
	switch v := v.(type) {
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = render(x)
		}
		return out
	default:
		return []string{render(v)}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *synthesized) deploymentStacks() []awscdk.Stack {
	return s.deployment.Stacks()
}

// newTestApp is an app with cdk.json's context and a throwaway output dir.
func newTestApp(t *testing.T) awscdk.App {
	t.Helper()
	ctx := cdkJSONContext(t)
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
}

type statement struct {
	Actions   []string
	Resources []string
	Condition string
}

// statementsBySid returns the statements of the policies attached to the
// role whose construct id is roleID, keyed by Sid.
func statementsBySid(t *testing.T, tpl map[string]any, roleID string) map[string]statement {
	t.Helper()
	out := map[string]statement{}
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		roles := renderAll(p.Properties["Roles"])
		if len(roles) != 1 || !strings.HasPrefix(roles[0], "${Ref:"+roleID) {
			continue
		}
		doc := p.Properties["PolicyDocument"].(map[string]any)
		for _, raw := range doc["Statement"].([]any) {
			st := raw.(map[string]any)
			sid, _ := st["Sid"].(string)
			if _, dup := out[sid]; dup {
				t.Fatalf("role %s: two statements with Sid %q", roleID, sid)
			}
			s := statement{Actions: renderAll(st["Action"]), Resources: renderAll(st["Resource"])}
			if c, ok := st["Condition"]; ok {
				s.Condition = jsonOf(c)
			}
			sort.Strings(s.Actions)
			sort.Strings(s.Resources)
			out[sid] = s
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy statements for role %s", roleID)
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
