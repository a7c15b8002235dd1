package failover

import (
	"context"
)

// readBack waits for the settle time and reads every stream this call
// switched again. The switch is a conditional write on this Region's replica
// of a global table, and replication between Regions is last writer wins:
// a failover invoked in the other Region from the same epoch can win its own
// conditional write too, and one of the two writes then overwrites the
// other. Whoever's request id the item ends with is the winner; this call
// reports a stream it lost as a conflict. The window that remains is the
// table's replication delay beyond the settle time.
func (inv *invocation) readBack(ctx, cross context.Context) {
	var switched []int
	for i, sr := range inv.report.Streams {
		if sr.Status == StatusSwitched {
			switched = append(switched, i)
		}
	}
	if len(switched) == 0 {
		return
	}
	settle := inv.h.settings.SwitchSettle
	if err := inv.h.sleep(ctx, settle); err != nil {
		inv.warn("the switches were not read back (%v): if a failover was also invoked in another Region, run the status action to see which one won", err)
		return
	}
	for _, i := range switched {
		sr := &inv.report.Streams[i]
		cfg, err := inv.h.configs.Get(ctx, sr.StreamName)
		if err != nil {
			inv.warn("%s: switch not read back after %s (%v): if a failover was also invoked in another Region, run the status action to see which one won", sr.StreamName, settle, err)
			continue
		}
		current := cfg.History[len(cfg.History)-1]
		if current.RequestID == inv.requestID {
			continue
		}
		inv.warn("%s: read back %s after the switch, the item is at epoch %d in %s, written by request %s, not by this call (%s): another failover, in another Region, won (the config table is a global table and the last writer wins); this call's switch does not stand",
			sr.StreamName, settle, cfg.Epoch, cfg.ActiveRegion, orUnknown(current.RequestID), inv.requestID)
		o := streamOutcome{report: streamReport(cfg, StatusConflict)}
		o.apply(&o.report, inv.storedOrComputed(ctx, cross, cfg, awayFrom(cfg, inv.req.TargetRegion)))
		inv.describeSwitch(cross, &o.report, cfg)
		*sr = o.report
		inv.report.Actions = append(inv.report.Actions, o.actions...)
		inv.report.Warnings = append(inv.report.Warnings, o.warnings...)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "(none recorded)"
	}
	return s
}
