package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/endpoints"
	"github.com/kinesis-crr/kinesis-crr/pkg/localworld"
	"github.com/kinesis-crr/kinesis-crr/pkg/replicator"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

const (
	regionA = "us-east-1"
	regionB = "us-east-2"
)

// leaseWorld is two Regions with stream orders (two shards, the same hash
// ranges in both) holding ten records a shard in A and their copies in B,
// and A's trails of sync points at records 2, 5 and 8 of each shard, as the
// replicator leaves them, and its checkpoints at record 9.
type leaseWorld struct {
	world     *localworld.World
	endpoints string
	// a[s][i] is the sequence number of record i of shard s in A, b[s][i]
	// that of its copy in B.
	a, b   [2][10]string
	shards [2]string
}

func startLeaseWorld(ctx context.Context, t *testing.T) *leaseWorld {
	t.Helper()
	w, err := localworld.Start(ctx, localworld.Options{Regions: [2]string{regionA, regionB}, GlobalTableDelay: localworld.NoDelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.CreateStream(ctx, "orders", 2); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateTables(ctx, replicator.DefaultCheckpointTable, replicator.DefaultActiveRegionTable); err != nil {
		t.Fatal(err)
	}
	lw := &leaseWorld{world: w, endpoints: filepath.Join(t.TempDir(), "endpoints.json")}
	if err := endpoints.Write(lw.endpoints, w.Endpoints()); err != nil {
		t.Fatal(err)
	}
	ka, kb := w.KinesisClient(regionA, regionA), w.KinesisClient(regionB, regionB)
	listed, err := ka.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	store := checkpoint.NewStore(w.DynamoDBClient(regionA, regionA), replicator.DefaultCheckpointTable)
	arrival := time.Now().UTC()
	for s, sh := range listed.Shards {
		lw.shards[s] = aws.ToString(sh.ShardId)
		for i := range 10 {
			in := &kinesis.PutRecordInput{StreamName: aws.String("orders"), Data: []byte(fmt.Sprintf("record %d of shard %d", i, s)),
				PartitionKey: aws.String("k"), ExplicitHashKey: sh.HashKeyRange.StartingHashKey}
			outA, err := ka.PutRecord(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			outB, err := kb.PutRecord(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(outA.ShardId) != lw.shards[s] || aws.ToString(outB.ShardId) != lw.shards[s] {
				t.Fatalf("record %d of shard %d landed on %s in A and %s in B", i, s, aws.ToString(outA.ShardId), aws.ToString(outB.ShardId))
			}
			lw.a[s][i], lw.b[s][i] = aws.ToString(outA.SequenceNumber), aws.ToString(outB.SequenceNumber)
		}
		for _, i := range []int{2, 5, 8} {
			p := checkpoint.SyncPoint{SequenceNumber: lw.a[s][i], Arrival: arrival.Add(time.Duration(i) * 10 * time.Second),
				Targets: map[string]string{lw.shards[s]: lw.b[s][i]}}
			if err := store.AppendSyncPoint(ctx, "orders", regionA, lw.shards[s], p); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.Save(ctx, checkpoint.Checkpoint{StreamName: "orders", ShardID: lw.shards[s], LastReplicatedTimestamp: arrival,
			TimestampSource: checkpoint.SourceArrival, LastSequenceNumber: lw.a[s][9], LastArrivalTimestamp: arrival,
			TargetShardID: lw.shards[s], TargetSequenceNumber: lw.b[s][9], SourceRegion: regionA, TargetRegion: regionB, Epoch: 1, UpdatedAt: arrival}); err != nil {
			t.Fatal(err)
		}
	}
	return lw
}

// kdscrr runs the CLI against the world.
func (lw *leaseWorld) kdscrr(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	st := Main(context.Background(), append(args, "--endpoints", lw.endpoints), Env{
		Stdout: &stdout, Stderr: &stderr, Dir: t.TempDir(),
		Getenv: func(k string) string { return map[string]string{"USER": "tester"}[k] },
		Now:    time.Now,
	})
	return st, stdout.String(), stderr.String()
}

var placeholder = regexp.MustCompile(`\{\{(\d) (\d)\}\}`)

// createLeaseTable creates table in A with the key of schema and the items
// of the fixture, placeholders replaced by A's sequence numbers.
func (lw *leaseWorld) createLeaseTable(ctx context.Context, t *testing.T, table, key, fixture string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	raw = placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		g := placeholder.FindSubmatch(m)
		s, _ := strconv.Atoi(string(g[1]))
		i, _ := strconv.Atoi(string(g[2]))
		return []byte(lw.a[s][i])
	})
	var scan struct {
		Items []map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &scan); err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	client := lw.world.DynamoDBClient(regionA, regionA)
	if _, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(key), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, it := range scan.Items {
		item := map[string]ddbtypes.AttributeValue{}
		for name, typed := range it {
			for typ, v := range typed {
				var err error
				switch typ {
				case "S":
					var s string
					err = json.Unmarshal(v, &s)
					item[name] = &ddbtypes.AttributeValueMemberS{Value: s}
				case "N":
					var s string
					err = json.Unmarshal(v, &s)
					item[name] = &ddbtypes.AttributeValueMemberN{Value: s}
				case "SS":
					var ss []string
					err = json.Unmarshal(v, &ss)
					item[name] = &ddbtypes.AttributeValueMemberSS{Value: ss}
				default:
					t.Fatalf("%s: attribute %s of type %s is not supported by the test", fixture, name, typ)
				}
				if err != nil {
					t.Fatalf("%s: %s: %v", fixture, name, err)
				}
			}
		}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
}

// leasesIn reads table in region, by lease key.
func (lw *leaseWorld) leasesIn(ctx context.Context, t *testing.T, region, table, key string) map[string]map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := lw.world.DynamoDBClient(region, region).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]map[string]ddbtypes.AttributeValue{}
	for _, it := range out.Items {
		byKey[str(it[key])] = it
	}
	return byKey
}

func num(av ddbtypes.AttributeValue) string {
	if n, ok := av.(*ddbtypes.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

func attributeNames(item map[string]ddbtypes.AttributeValue) []string {
	var names []string
	for n := range item {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

type wantStart struct {
	target, seq string
	reread      int64
}

func checkStarts(t *testing.T, res translate.Result, want []wantStart) {
	t.Helper()
	if len(res.Positions) != len(want) {
		t.Fatalf("got %d positions %+v, want %d", len(res.Positions), res.Positions, len(want))
	}
	for i, w := range want {
		p := res.Positions[i]
		if p.TargetShardID != w.target || p.StartingPosition != translate.AfterSequenceNumber || p.SequenceNumber != w.seq ||
			p.MaxReread == nil || *p.MaxReread != w.reread {
			reread := "unknown"
			if p.MaxReread != nil {
				reread = fmt.Sprint(*p.MaxReread)
			}
			t.Errorf("target shard %d: got %s %s %s, re-reads %s; want %s AFTER_SEQUENCE_NUMBER %s, re-reads %d",
				i, p.TargetShardID, p.StartingPosition, p.SequenceNumber, reread, w.target, w.seq, w.reread)
		}
	}
}

// A lease table in A, in either schema, read from the emulators and
// translated through the trails in the checkpoint table; the lease table
// written in B reads back as a KCL application started there resumes from
// it: one lease per target shard, the translated checkpoint, no owner, the
// parents of B's shards; and a table with leases is never overwritten
// without --overwrite.
func TestTranslateReadsAndWritesKCLLeaseTablesOnTheEmulators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the emulators")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lw := startLeaseWorld(ctx, t)
	b, sh := lw.b, lw.shards

	tests := []struct {
		name, schema, key, fixture string
		want                       []wantStart
		// wantWarning is a warning the translation must give.
		wantWarning string
		// wantAttributes are the attributes of a written lease.
		wantAttributes []string
	}{
		{
			name: "Java KCL 2.x/3.x", schema: schemaJava, key: "leaseKey", fixture: "leases-java.json",
			want: []wantStart{
				// Processed through record 6: after record 5's copy, re-reading record 6.
				{sh[0], b[0][5], 1},
				// Record 5 processed only to sub-sequence 3: it counts as not processed,
				// so the start is after record 2's copy, re-reading 3, 4 and 5.
				{sh[1], b[1][2], 3},
			},
			wantWarning:    "was processed only up to sub-sequence number 3",
			wantAttributes: []string{"checkpoint", "checkpointSubSequenceNumber", "leaseCounter", "leaseKey", "ownerSwitchesSinceCheckpoint"},
		},
		{
			name: "vmware-go-kcl-v2", schema: schemaVMware, key: "ShardID", fixture: "leases-vmware.json",
			want: []wantStart{
				{sh[0], b[0][2], 0},
				{sh[1], b[1][8], 1},
			},
			wantAttributes: []string{"Checkpoint", "ShardID"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d-in-b", i)
			lw.createLeaseTable(ctx, t, from, tt.key, tt.fixture)
			st, stdout, stderr := lw.kdscrr(t, "translate", "--stream", "orders", "--from", regionA, "--to", regionB,
				"--kcl-lease-table", from, "--write-lease-table", to, "--output", "json")
			if st != ExitOK {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", st, stdout, stderr)
			}
			var res translate.Result
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			checkStarts(t, res, tt.want)
			if tt.wantWarning != "" && !strings.Contains(strings.Join(res.Warnings, "\n"), tt.wantWarning) {
				t.Errorf("got warnings %q, want one saying %q", res.Warnings, tt.wantWarning)
			}
			if want := fmt.Sprintf("wrote 2 leases (%s schema) to %s in %s", tt.schema, to, regionB); !strings.Contains(stderr, want) {
				t.Errorf("got stderr %q, want %q", stderr, want)
			}

			leases := lw.leasesIn(ctx, t, regionB, to, tt.key)
			if len(leases) != 2 {
				t.Fatalf("got %d leases in %s, want 2: %v", len(leases), to, leases)
			}
			for _, w := range tt.want {
				l, ok := leases[w.target]
				if !ok {
					t.Fatalf("no lease for %s in %s", w.target, to)
				}
				cp := str(l["checkpoint"])
				if tt.schema == schemaVMware {
					cp = str(l["Checkpoint"])
				}
				if cp != w.seq {
					t.Errorf("lease %s: got checkpoint %s, want %s", w.target, cp, w.seq)
				}
				// No owner (leaseOwner, AssignedTo), no lease timeout, no
				// parents: B's shards have none.
				if got := attributeNames(l); !slices.Equal(got, tt.wantAttributes) {
					t.Errorf("lease %s: got attributes %v, want %v", w.target, got, tt.wantAttributes)
				}
				if tt.schema == schemaJava && (num(l["leaseCounter"]) != "0" || num(l["checkpointSubSequenceNumber"]) != "0") {
					t.Errorf("lease %s: got leaseCounter %s, sub-sequence %s, want 0 and 0", w.target, num(l["leaseCounter"]), num(l["checkpointSubSequenceNumber"]))
				}
			}

			// Again: the table has leases now.
			st, _, stderr = lw.kdscrr(t, "translate", "--stream", "orders", "--from", regionA, "--to", regionB,
				"--kcl-lease-table", from, "--write-lease-table", to)
			if want := "already has leases: refusing to overwrite them"; st != ExitError || !strings.Contains(stderr, want) {
				t.Errorf("got exit %d, stderr %q, want %d and %q", st, stderr, ExitError, want)
			}
			if st, _, stderr := lw.kdscrr(t, "translate", "--stream", "orders", "--from", regionA, "--to", regionB,
				"--kcl-lease-table", from, "--write-lease-table", to, "--overwrite"); st != ExitOK {
				t.Errorf("with --overwrite: got exit %d, stderr %q, want 0", st, stderr)
			}
		})
	}

	// B resharded: its shard 1 split in two. The leases written for B are
	// B's shards, the children naming their parent, as KCL needs to finish
	// the parent first; the parent keeps the translated checkpoint, the
	// children (fed by source shard 1 only after the trail's points)
	// start at the time the translation says.
	t.Run("a resharded target stream", func(t *testing.T) {
		kb := lw.world.KinesisClient(regionB, regionB)
		if _, err := kb.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("orders"), ShardToSplit: aws.String(sh[1]),
			NewStartingHashKey: aws.String("255211775190703847597530955573826158592")}); err != nil {
			t.Fatal(err)
		}
		for {
			d, err := kb.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
			if err != nil {
				t.Fatal(err)
			}
			if d.StreamDescriptionSummary.StreamStatus == "ACTIVE" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		lw.createLeaseTable(ctx, t, "app-resharded", "leaseKey", "leases-java.json")
		st, stdout, stderr := lw.kdscrr(t, "translate", "--stream", "orders", "--from", regionA, "--to", regionB,
			"--kcl-lease-table", "app-resharded", "--write-lease-table", "app-resharded-in-b", "--output", "json")
		if st != ExitOK {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", st, stdout, stderr)
		}
		leases := lw.leasesIn(ctx, t, regionB, "app-resharded-in-b", "leaseKey")
		var got []string
		for _, k := range slices.Sorted(maps.Keys(leases)) {
			l := leases[k]
			var parents []string
			if ss, ok := l["parentShardIds"].(*ddbtypes.AttributeValueMemberSS); ok {
				parents = ss.Value
			}
			owner := ""
			if _, ok := l["leaseOwner"]; ok {
				owner = " owned"
			}
			got = append(got, fmt.Sprintf("%s %s parents %v%s", k, str(l["checkpoint"]), parents, owner))
		}
		want := []string{
			sh[0] + " " + b[0][5] + " parents []",
			sh[1] + " " + b[1][2] + " parents []",
			"shardId-000000000002 AT_TIMESTAMP parents [" + sh[1] + "]",
			"shardId-000000000003 AT_TIMESTAMP parents [" + sh[1] + "]",
		}
		if !slices.Equal(got, want) {
			t.Errorf("got leases\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// During an outage the old Region may hang rather than refuse: translate
// must not wait for it. Its checkpoints and sync points come from the other
// replica, its shards are matched by id, and the starts are the same.
func TestTranslateWithTheOldRegionHangingReadsTheOtherReplica(t *testing.T) {
	ctx := context.Background()
	lw := startLeaseWorld(ctx, t)
	if err := lw.world.WaitReplicated(ctx); err != nil {
		t.Fatal(err)
	}
	lw.world.Hang(regionA)
	defer lw.world.Heal(regionA)
	var stdout, stderr bytes.Buffer
	positions := fmt.Sprintf("%s=%s,%s=%s", lw.shards[0], lw.a[0][6], lw.shards[1], lw.a[1][3])
	st := Main(ctx, []string{"translate", "--stream", "orders", "--from", regionA, "--to", regionB, "--positions", positions,
		"--output", "json", "--endpoints", lw.endpoints}, Env{
		Stdout: &stdout, Stderr: &stderr, Dir: t.TempDir(), Now: time.Now, ReplicaTimeout: 300 * time.Millisecond,
	})
	if st != ExitOK {
		t.Fatalf("got exit %d, want %d: %s", st, ExitOK, stderr.String())
	}
	var res translate.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Positions) != 2 {
		t.Fatalf("got positions %+v, want one per shard", res.Positions)
	}
	for i, want := range []string{lw.b[0][5], lw.b[1][2]} {
		if p := res.Positions[i]; p.StartingPosition != translate.AfterSequenceNumber || p.SequenceNumber != want {
			t.Errorf("target shard %d: got %s %s, want AFTER_SEQUENCE_NUMBER %s, the copy of the sync point before the position", i, p.StartingPosition, p.SequenceNumber, want)
		}
	}
	joined := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"could not be listed", "in us-east-1's replica could not be read"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q do not say %q", joined, want)
		}
	}
}
