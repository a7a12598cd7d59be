package scenarios

import (
	"context"
	"strings"
	"testing"
)

// TestShipped runs every shipped scenario against the embedded default.
func TestShipped(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range all {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			rep := RunScenario(context.Background(), sc, StackConfig{})
			if !rep.Passed {
				var b strings.Builder
				rep.WriteText(&b)
				t.Errorf("scenario %s failed:\n%s", sc.Name, b.String())
			}
		})
	}
}
