package endpoints

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadReadsTheDemosFileAndIgnoresKeysItDoesNotKnow(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Regions(), ","); got != "us-east-1,us-east-2" {
		t.Errorf("Regions() = %s", got)
	}
	if f["us-east-1"].Lambda != "http://127.0.0.1:40003" || f["us-east-1"].From["us-east-2"].Kinesis != "http://127.0.0.1:40004" || f["us-east-2"].Lambda != "" {
		t.Errorf("got %+v", f)
	}
	if !f.Has("us-east-2") || f.Has("eu-west-1") {
		t.Error("Has answers wrongly")
	}
}

func TestWriteThenLoadGivesTheSameFile(t *testing.T) {
	want := File{"eu-west-1": {Kinesis: "http://127.0.0.1:1", DynamoDB: "http://127.0.0.1:2", Lambda: "http://127.0.0.1:3"}}
	path := filepath.Join(t.TempDir(), "e.json")
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := got["eu-west-1"], want["eu-west-1"]; g.Kinesis != w.Kinesis || g.DynamoDB != w.DynamoDB || g.Lambda != w.Lambda {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLoadRefusesAFileThatCannotBeUsedNamingWhatIsWrong(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"not JSON", `{`, "not a JSON object of Regions"},
		{"no Regions", `{}`, "no Regions"},
		{"a Region name that is none", `{"useast1":{"kinesis":"http://a:1","dynamodb":"http://a:2"}}`, `"useast1" is not a Region name`},
		{"a missing URL", `{"us-east-1":{"kinesis":"http://a:1"}}`, "us-east-1.dynamodb: missing"},
		{"a URL that is not http", `{"us-east-1":{"kinesis":"127.0.0.1:1","dynamodb":"http://a:2"}}`, `us-east-1.kinesis: "127.0.0.1:1" is not an http(s) URL`},
		{"a bad lambda URL", `{"us-east-1":{"kinesis":"http://a:1","dynamodb":"http://a:2","lambda":"ftp://a"}}`, "us-east-1.lambda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "e.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file: no error")
	}
}
