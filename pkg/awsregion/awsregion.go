// Package awsregion tells whether a string is an AWS Region name. It checks
// the shape (us-east-1, ap-southeast-4, us-gov-west-1, eu-isoe-west-1)
// rather than a list, which would go stale when AWS opens a Region; the
// replicator, the failover function and the CDK app share it so that none of
// them accepts a name another refuses.
package awsregion

import "regexp"

var pattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// Valid reports whether name has the shape of an AWS Region name.
func Valid(name string) bool { return pattern.MatchString(name) }
