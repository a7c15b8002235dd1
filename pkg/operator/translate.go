package operator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-crr/kinesis-crr/pkg/checkpoint"
	"github.com/kinesis-crr/kinesis-crr/pkg/lag"
	"github.com/kinesis-crr/kinesis-crr/pkg/streamread"
	"github.com/kinesis-crr/kinesis-crr/pkg/translate"
)

// KCL lease table schemas.
const (
	schemaJava   = "java"   // Amazon KCL 2.x/3.x: leaseKey, checkpoint, checkpointSubSequenceNumber, leaseOwner, leaseCounter, parentShardIds
	schemaVMware = "vmware" // vmware-go-kcl-v2: ShardID, Checkpoint, AssignedTo, ParentShardId (clientlibrary/checkpoint)
)

// leaseTableAPI is what reading and writing a KCL lease table needs beyond
// DynamoDBAPI; *dynamodb.Client has it, and the Connector's clients are
// asked for it when a lease table is named.
type leaseTableAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ leaseTableAPI = (*dynamodb.Client)(nil)

// lease is one KCL lease, in either schema.
type lease struct {
	key        string // leaseKey / ShardID as stored
	shardID    string // the shard id (KCL 3 multi-stream keys end in it)
	checkpoint string
	sub        int64
}

func runTranslate(ctx context.Context, c *cli, args []string) int {
	fs, o := c.flags("--stream S --from A --to B (--positions SHARD=SEQ[:SUB],… | --kcl-lease-table T) [--write-lease-table T2] [flags]")
	stream := fs.String("stream", "", "the stream (required)")
	from := fs.String("from", "", "the Region the consumer ran in (required)")
	to := fs.String("to", "", "the Region it moves to (required)")
	positionsFlag := fs.String("positions", "", "the consumer's positions in --from: shardId=sequenceNumber[:subSequenceNumber],…")
	leaseTable := fs.String("kcl-lease-table", "", "a KCL lease table in --from to read the positions from")
	schema := fs.String("kcl-schema", "", "the lease table's schema, java or vmware (default: detected)")
	writeTable := fs.String("write-lease-table", "", "write a lease table in --to that a KCL application started with that name resumes from")
	overwrite := fs.Bool("overwrite", false, "with --write-lease-table: write into an existing table that has items")
	maxScan := fs.Int("max-scan", lag.DefaultMaxScan, "at most this many records read per shard to count re-reads")
	if st := c.parse(fs, args); st != nil {
		return *st
	}
	s, err := c.setup(o)
	if err != nil {
		return c.fail(err)
	}
	var positions []translate.Position
	switch {
	case strings.TrimSpace(*stream) == "":
		return c.fail(errors.New("--stream is required: the stream whose consumer moves"))
	case *from == "":
		return c.fail(fmt.Errorf("--from is required: the Region the consumer ran in, one of %s", strings.Join(s.deployment.regions[:], ", ")))
	case *to == "":
		return c.fail(fmt.Errorf("--to is required: the Region the consumer moves to, one of %s", strings.Join(s.deployment.regions[:], ", ")))
	case (*positionsFlag == "") == (*leaseTable == ""):
		return c.fail(errors.New("--positions or --kcl-lease-table: give exactly one"))
	case *schema != "" && *schema != schemaJava && *schema != schemaVMware:
		return c.fail(fmt.Errorf("--kcl-schema %q: want java or vmware", *schema))
	case *writeTable != "" && *leaseTable == "" && *schema == "":
		return c.fail(errors.New("--write-lease-table with --positions needs --kcl-schema java or vmware"))
	case *maxScan < 1:
		return c.fail(fmt.Errorf("--max-scan %d: want at least 1", *maxScan))
	}
	for _, f := range []struct{ name, value string }{{"from", *from}, {"to", *to}} {
		if err := s.deployment.allows(f.name, f.value); err != nil {
			return c.fail(err)
		}
	}
	if *from == *to {
		return c.fail(fmt.Errorf("--to %s: the same Region as --from", *to))
	}
	if *positionsFlag != "" {
		positions, err = parsePositions(*positionsFlag)
		if err != nil {
			return c.fail(err)
		}
	}

	var leases []lease
	detected := *schema
	if *leaseTable != "" {
		leases, detected, err = readLeases(ctx, s, *from, *leaseTable, *schema)
		if err != nil {
			return c.fail(err)
		}
		for _, l := range leases {
			p, err := translate.ParsePosition(l.shardID, l.checkpoint, l.sub)
			if err != nil {
				return c.fail(fmt.Errorf("--kcl-lease-table %s: %w", *leaseTable, err))
			}
			positions = append(positions, p)
		}
	}

	var warnings []string
	cps, w, err := c.checkpoints(ctx, s, *stream, *from)
	if err != nil {
		return c.fail(fmt.Errorf("translate %s: %w", *stream, err))
	}
	warnings = append(warnings, w...)
	trails, w, err := c.trails(ctx, s, *stream, *from)
	if err != nil {
		return c.fail(fmt.Errorf("translate %s: %w", *stream, err))
	}
	warnings = append(warnings, w...)
	target, err := c.listShards(ctx, s, *to, *stream)
	if err != nil {
		return c.fail(fmt.Errorf("translate %s: the stream in %s: %w", *stream, *to, err))
	}
	in := translate.Input{Positions: positions, Target: target, Checkpoints: cps, Trails: trails}
	if source, err := c.listShards(ctx, s, *from, *stream); err == nil {
		in.Source = source
		in.Count = counter(ctx, s, *from, *stream, *maxScan)
	} else {
		// The old Region may be the impaired one: the shards come from
		// the positions and checkpoints, matched by id.
		warnings = append(warnings, fmt.Sprintf("the stream in %s could not be listed (%v): source shards are matched to target shards by id, and re-reads are not counted", *from, err))
		in.Source = in.SourceByID()
	}
	res, err := translate.Translate(ctx, in)
	if err != nil {
		return c.fail(err)
	}
	res.Warnings = append(warnings, res.Warnings...)
	if *writeTable != "" {
		n, w, err := writeLeases(ctx, s, *to, *writeTable, detected, res, *overwrite)
		if err != nil {
			return c.fail(err)
		}
		res.Warnings = append(res.Warnings, w...)
		fmt.Fprintf(c.env.Stderr, "%s: wrote %d leases (%s schema) to %s in %s\n", c.name, n, detected, *writeTable, *to)
	}
	return c.output(s, res, func(w *tableWriter) {
		w.translateReport(*stream, *from, *to, res)
		w.warnings(res.Warnings)
	})
}

// parsePositions reads shardId=seq[:sub],….
func parsePositions(s string) ([]translate.Position, error) {
	var out []translate.Position
	for _, entry := range splitList(s) {
		shard, value, ok := strings.Cut(entry, "=")
		if !ok || shard == "" || value == "" {
			return nil, fmt.Errorf("--positions %q: want shardId=sequenceNumber[:subSequenceNumber]", entry)
		}
		var sub int64
		if seq, subs, has := strings.Cut(value, ":"); has {
			n, err := strconv.ParseInt(subs, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--positions %q: sub-sequence number %q is not a whole number", entry, subs)
			}
			value, sub = seq, n
		}
		p, err := translate.ParsePosition(shard, value, sub)
		if err != nil {
			return nil, fmt.Errorf("--positions: %w", err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("--positions: want at least one shardId=sequenceNumber")
	}
	return out, nil
}

func leaseClient(ctx context.Context, s setup, region string) (leaseTableAPI, error) {
	client, err := s.connector.Region(region).DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	lt, ok := client.(leaseTableAPI)
	if !ok {
		return nil, fmt.Errorf("the DynamoDB client of %s cannot scan or create tables", region)
	}
	return lt, nil
}

// readLeases scans a lease table and detects its schema from its items.
func readLeases(ctx context.Context, s setup, region, table, schema string) ([]lease, string, error) {
	client, err := leaseClient(ctx, s, region)
	if err != nil {
		return nil, "", err
	}
	var items []map[string]ddbtypes.AttributeValue
	pages := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("--kcl-lease-table %s in %s: %w", table, region, err)
		}
		items = append(items, page.Items...)
	}
	if len(items) == 0 {
		return nil, "", fmt.Errorf("--kcl-lease-table %s in %s has no leases", table, region)
	}
	if schema == "" {
		switch {
		case items[0]["leaseKey"] != nil:
			schema = schemaJava
		case items[0]["ShardID"] != nil:
			schema = schemaVMware
		default:
			return nil, "", fmt.Errorf("--kcl-lease-table %s: items have neither leaseKey (Java KCL) nor ShardID (vmware-go-kcl): name the schema with --kcl-schema", table)
		}
	}
	var out []lease
	for _, it := range items {
		var l lease
		if schema == schemaJava {
			l.key, l.checkpoint = str(it["leaseKey"]), str(it["checkpoint"])
			if n, ok := it["checkpointSubSequenceNumber"].(*ddbtypes.AttributeValueMemberN); ok {
				l.sub, _ = strconv.ParseInt(n.Value, 10, 64)
			}
			// KCL 3 multi-stream keys are account:stream:creationEpoch:shardId.
			parts := strings.Split(l.key, ":")
			l.shardID = parts[len(parts)-1]
		} else {
			l.key, l.checkpoint = str(it["ShardID"]), str(it["Checkpoint"])
			l.shardID = l.key
			if l.checkpoint == "" {
				// vmware-go-kcl starts a lease without a checkpoint at its
				// configured initial position: nothing processed.
				l.checkpoint = translate.SentinelTrimHorizon
			}
		}
		if l.key == "" {
			return nil, "", fmt.Errorf("--kcl-lease-table %s: an item has no lease key for the %s schema", table, schema)
		}
		out = append(out, l)
	}
	return out, schema, nil
}

func str(av ddbtypes.AttributeValue) string {
	if s, ok := av.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// writeLeases writes one lease per target shard, without an owner, so a KCL
// application started on the table resumes from the translated positions.
func writeLeases(ctx context.Context, s setup, region, table, schema string, res translate.Result, overwrite bool) (int, []string, error) {
	client, err := leaseClient(ctx, s, region)
	if err != nil {
		return 0, nil, err
	}
	key := "leaseKey"
	if schema == schemaVMware {
		key = "ShardID"
	}
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err == nil {
		out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Limit: aws.Int32(1)})
		if err != nil {
			return 0, nil, fmt.Errorf("--write-lease-table %s in %s: %w", table, region, err)
		}
		if len(out.Items) > 0 && !overwrite {
			return 0, nil, fmt.Errorf("--write-lease-table %s in %s already has leases: refusing to overwrite them (--overwrite to write anyway)", table, region)
		}
	} else {
		var nf *ddbtypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return 0, nil, fmt.Errorf("--write-lease-table %s in %s: %w", table, region, err)
		}
		if _, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(table),
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(key), KeyType: ddbtypes.KeyTypeHash}},
			BillingMode:          ddbtypes.BillingModePayPerRequest,
		}); err != nil {
			return 0, nil, fmt.Errorf("--write-lease-table %s in %s: create: %w", table, region, err)
		}
		// A new on-demand table is ACTIVE within seconds: poll each second
		// rather than the waiter's default 20 s.
		waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = time.Second })
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, DefaultStatusTimeout); err != nil {
			return 0, nil, fmt.Errorf("--write-lease-table %s in %s: wait for the table: %w", table, region, err)
		}
	}
	var warnings []string
	for _, p := range res.Positions {
		item := map[string]ddbtypes.AttributeValue{key: &ddbtypes.AttributeValueMemberS{Value: p.TargetShardID}}
		// A KCL lease checkpoint resumes AFTER its sequence number; other
		// positions are sentinels, which vmware-go-kcl reads as "use the
		// configured initial position".
		checkpoint := p.SequenceNumber
		switch p.StartingPosition {
		case translate.TrimHorizon:
			checkpoint = translate.SentinelTrimHorizon
		case translate.AtTimestamp:
			checkpoint = translate.SentinelAtTimestamp
			warnings = append(warnings, fmt.Sprintf("lease %s starts AT_TIMESTAMP: start the application with its initial position AT_TIMESTAMP %s (the lease holds no time)", p.TargetShardID, stamp(p.Timestamp)))
		}
		if schema == schemaJava {
			item["checkpoint"] = &ddbtypes.AttributeValueMemberS{Value: checkpoint}
			item["checkpointSubSequenceNumber"] = &ddbtypes.AttributeValueMemberN{Value: "0"}
			item["leaseCounter"] = &ddbtypes.AttributeValueMemberN{Value: "0"}
			item["ownerSwitchesSinceCheckpoint"] = &ddbtypes.AttributeValueMemberN{Value: "0"}
			if len(p.TargetParents) > 0 {
				item["parentShardIds"] = &ddbtypes.AttributeValueMemberSS{Value: p.TargetParents}
			}
		} else {
			if p.StartingPosition == translate.AfterSequenceNumber {
				item["Checkpoint"] = &ddbtypes.AttributeValueMemberS{Value: checkpoint}
			}
			if len(p.TargetParents) > 0 {
				item["ParentShardId"] = &ddbtypes.AttributeValueMemberS{Value: p.TargetParents[0]}
			}
		}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			return 0, nil, fmt.Errorf("--write-lease-table %s in %s: lease %s: %w", table, region, p.TargetShardID, err)
		}
	}
	return len(res.Positions), warnings, nil
}

// listShards lists the stream's shards in region with their hash ranges,
// within the replica timeout: the Region may be the one that hangs.
func (c *cli) listShards(ctx context.Context, s setup, region, stream string) ([]translate.Shard, error) {
	ctx, cancel := context.WithTimeout(ctx, c.env.ReplicaTimeout)
	defer cancel()
	kin, err := s.connector.Region(region).Kinesis(ctx)
	if err != nil {
		return nil, err
	}
	shards, err := streamread.Shards(ctx, kin, stream)
	if err != nil {
		return nil, err
	}
	return translate.ShardsOf(shards), nil
}

// counter counts re-read records by reading the source stream, at most
// maxScan a shard.
func counter(ctx context.Context, s setup, region, stream string, maxScan int) translate.Counter {
	return func(ctx context.Context, shard, after, through string) (int64, error) {
		kin, err := s.connector.Region(region).Kinesis(ctx)
		if err != nil {
			return 0, err
		}
		return countRecords(ctx, kin, stream, shard, after, through, maxScan)
	}
}

// errThrough stops a count at the first record after through.
var errThrough = errors.New("past the last record to count")

func countRecords(ctx context.Context, kin streamread.API, stream, shard, after, through string, maxScan int) (int64, error) {
	var n int64
	_, err := streamread.Shard(ctx, kin, stream, shard, streamread.Window{After: after}, func(r streamread.Record) error {
		if through != "" {
			c, err := checkpoint.CompareSequenceNumbers(r.SequenceNumber, through)
			if err != nil {
				return err
			}
			if c > 0 {
				return errThrough
			}
		}
		if n++; n >= int64(maxScan) {
			return fmt.Errorf("more than --max-scan %d records", maxScan)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errThrough) {
		return 0, err
	}
	return n, nil
}

// translateReport is translate's table form.
func (w *tableWriter) translateReport(stream, from, to string, res translate.Result) {
	w.line("Where a consumer of %s moved from %s resumes in %s:", stream, from, to)
	w.row("TARGET SHARD", "START", "SEQUENCE NUMBER / TIMESTAMP", "MAX REREAD", "DECIDED BY", "FED BY")
	for _, p := range res.Positions {
		at := orDash(p.SequenceNumber)
		if p.StartingPosition == translate.AtTimestamp {
			at = stamp(p.Timestamp)
		}
		reread := "unknown"
		if p.MaxReread != nil {
			reread = strconv.FormatInt(*p.MaxReread, 10)
		}
		w.row(p.TargetShardID, p.StartingPosition, at, reread, orDash(p.SourceShardID), orDash(strings.Join(p.SourceShardIDs, ",")))
	}
}
