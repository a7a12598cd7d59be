package analytics

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// ErrPartitions reports a partition set that cannot be built.
var ErrPartitions = errors.New("invalid partitions")

// PartitionSet is the set of partitions one analytics instance owns, out of
// a deployment's partition count. Instances whose sets are disjoint and
// together cover every partition see every meter exactly once. The zero
// value is empty; use [AllPartitions], [ParsePartitions] or
// [InstancePartitions].
type PartitionSet struct {
	count int
	// owned is sorted and free of duplicates.
	owned []int
}

// AllPartitions returns every partition of a deployment of count
// partitions (zero means [wire.DefaultPartitions]).
func AllPartitions(count int) (PartitionSet, error) {
	count, err := partitionCount(count)
	if err != nil {
		return PartitionSet{}, err
	}
	owned := make([]int, count)
	for i := range owned {
		owned[i] = i
	}
	return PartitionSet{count: count, owned: owned}, nil
}

// ParsePartitions reads a set such as "0-15", "3", "0-3,8,10-11" or "all"
// out of count partitions (zero means [wire.DefaultPartitions]).
func ParsePartitions(spec string, count int) (PartitionSet, error) {
	count, err := partitionCount(count)
	if err != nil {
		return PartitionSet{}, err
	}
	if spec == "all" {
		return AllPartitions(count)
	}
	var owned []int
	for part := range strings.SplitSeq(spec, ",") {
		lo, hi, err := parseRange(part, count)
		if err != nil {
			return PartitionSet{}, fmt.Errorf("parse partitions %q: %w", spec, err)
		}
		for p := lo; p <= hi; p++ {
			owned = append(owned, p)
		}
	}
	slices.Sort(owned)
	return PartitionSet{count: count, owned: slices.Compact(owned)}, nil
}

func parseRange(part string, count int) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
	lo, err = strconv.Atoi(a)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %q is not a partition or range", ErrPartitions, part)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("%w: %q is not a range", ErrPartitions, part)
		}
	}
	if lo < 0 || hi >= count || lo > hi {
		return 0, 0, fmt.Errorf("%w: %q outside 0-%d", ErrPartitions, part, count-1)
	}
	return lo, hi, nil
}

// InstancePartitions returns the share of instance i of n: a contiguous
// block of the count partitions (zero means [wire.DefaultPartitions]), the
// blocks of instances 0 to n-1 covering every partition once.
func InstancePartitions(i, n, count int) (PartitionSet, error) {
	count, err := partitionCount(count)
	if err != nil {
		return PartitionSet{}, err
	}
	if n < 1 || n > count || i < 0 || i >= n {
		return PartitionSet{}, fmt.Errorf("instance %d/%d of %d partitions: %w",
			i, n, count, ErrPartitions)
	}
	lo, hi := i*count/n, (i+1)*count/n
	owned := make([]int, 0, hi-lo)
	for p := lo; p < hi; p++ {
		owned = append(owned, p)
	}
	return PartitionSet{count: count, owned: owned}, nil
}

// ParseInstance reads "i/n" as [InstancePartitions] does.
func ParseInstance(spec string, count int) (PartitionSet, error) {
	a, b, ok := strings.Cut(spec, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return PartitionSet{}, fmt.Errorf("parse instance %q: %w: want i/n", spec, ErrPartitions)
	}
	return InstancePartitions(i, n, count)
}

func partitionCount(count int) (int, error) {
	if count == 0 {
		count = wire.DefaultPartitions
	}
	if err := wire.CheckPartitionCount(count); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrPartitions, err)
	}
	return count, nil
}

// Count returns the deployment's partition count.
func (s PartitionSet) Count() int { return s.count }

// List returns the owned partitions in ascending order.
func (s PartitionSet) List() []int { return slices.Clone(s.owned) }

// Len returns the number of owned partitions.
func (s PartitionSet) Len() int { return len(s.owned) }

// Contains reports whether partition p is owned.
func (s PartitionSet) Contains(p int) bool {
	_, ok := slices.BinarySearch(s.owned, p)
	return ok
}

// String returns the canonical form ParsePartitions reads, such as "0-15"
// or "0-3,8".
func (s PartitionSet) String() string {
	var b strings.Builder
	for i := 0; i < len(s.owned); {
		j := i
		for j+1 < len(s.owned) && s.owned[j+1] == s.owned[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s.owned[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s.owned[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ConsumerName returns the durable consumer name of an instance owning s:
// "analytics-p0-15" and the like, or a hash of the set when its canonical
// form is long. Two instances with the same set share the name and so the
// consumer; instances with different sets never do.
func (s PartitionSet) ConsumerName() string {
	spec := strings.ReplaceAll(s.String(), ",", "_")
	name := "analytics-" + strconv.Itoa(s.count) + "-p" + spec
	if len(name) <= 64 {
		return name
	}
	h := fnv.New64a()
	h.Write([]byte(s.String()))
	return "analytics-" + strconv.Itoa(s.count) + "-h" + strconv.FormatUint(h.Sum64(), 16)
}

// filters returns the subject filters for every owned partition of the
// given channels.
func (s PartitionSet) filters(channels []wire.Channel) []string {
	out := make([]string, 0, len(channels)*len(s.owned))
	for _, c := range channels {
		for _, p := range s.owned {
			out = append(out, wire.PartitionFilter(c, p))
		}
	}
	return out
}
