// Package activeregion holds the per-stream active-Region config item, the
// rule that decides which Region replicates a record, a cache of the item for
// the replicator, and the fenced switch used by failover.
package activeregion

import (
	"errors"
	"time"
)

// Errors a caller tells apart with errors.Is.
var (
	// ErrNotFound: the stream has no config item.
	ErrNotFound = errors.New("no active-Region config item")
	// ErrStaleEpoch: the caller's expected epoch is not the item's epoch.
	ErrStaleEpoch = errors.New("expected epoch does not match")
	// ErrConflict: another writer changed the item between read and write.
	ErrConflict = errors.New("concurrent update of the active-Region config")
)

// Epoch is one entry of a config item's history: from Since on, Region was
// active, until the next entry's Since.
type Epoch struct {
	Region      string    `dynamodbav:"region" json:"region"`
	Since       time.Time `dynamodbav:"since" json:"since"`
	Epoch       int64     `dynamodbav:"epoch" json:"epoch"`
	Reason      string    `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	RequestID   string    `dynamodbav:"requestId,omitempty" json:"requestId,omitempty"`
	RequestedBy string    `dynamodbav:"requestedBy,omitempty" json:"requestedBy,omitempty"`
}

// Config is the kdsActiveRegionConfig item of one stream (schema in DESIGN.md).
// History is oldest first and its last entry is the current epoch.
type Config struct {
	StreamName   string    `dynamodbav:"streamName" json:"streamName"`
	ActiveRegion string    `dynamodbav:"activeRegion" json:"activeRegion"`
	ActiveSince  time.Time `dynamodbav:"activeSince" json:"activeSince"`
	Epoch        int64     `dynamodbav:"epoch" json:"epoch"`
	History      []Epoch   `dynamodbav:"history" json:"history"`
	UpdatedBy    string    `dynamodbav:"updatedBy,omitempty" json:"updatedBy,omitempty"`
	Reason       string    `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
}

// DefaultHistoryLimit is how many epochs a config item keeps.
const DefaultHistoryLimit = 20
