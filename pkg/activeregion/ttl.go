package activeregion

import (
	"fmt"
	"strings"
	"time"
)

// Bounds of ACTIVE_REGION_CACHE_TTL, which the replicators and the failover
// function read alike.
const (
	DefaultCacheTTL = 5 * time.Second
	MaxCacheTTL     = 30 * time.Second
)

// ParseCacheTTL reads ACTIVE_REGION_CACHE_TTL; empty is DefaultCacheTTL.
func ParseCacheTTL(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultCacheTTL, nil
	}
	ttl, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("ACTIVE_REGION_CACHE_TTL %q: want a Go duration such as 5s: %w", v, err)
	case ttl < 0:
		return 0, fmt.Errorf("ACTIVE_REGION_CACHE_TTL %q: must not be negative", v)
	case ttl > MaxCacheTTL:
		return 0, fmt.Errorf("ACTIVE_REGION_CACHE_TTL %q: at most %v, since a newly active Region may hold its first writes for about the TTL and that must fit in one invocation", v, MaxCacheTTL)
	}
	return ttl, nil
}
