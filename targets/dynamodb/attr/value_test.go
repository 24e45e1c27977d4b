package attr

import (
	"encoding/json"
	"testing"
)

// Set errors carry DynamoDB's words, which differ by the set's type (the
// messages dynalite 4.0.0 answers with).
func TestSetErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"SS":[]}`, "One or more parameter values were invalid: An string set  may not be empty"},
		{`{"NS":[]}`, "One or more parameter values were invalid: An number set  may not be empty"},
		{`{"BS":[]}`, "One or more parameter values were invalid: Binary sets should not be empty"},
		{`{"SS":["b","a","b"]}`, "One or more parameter values were invalid: Input collection [b, a, b] contains duplicates."},
		{`{"NS":["1","1.0","2"]}`, "Input collection contains duplicates"},
		{`{"BS":["YQ==","YQ=="]}`, "One or more parameter values were invalid: Input collection [YQ==, YQ==]of type BS contains duplicates."},
	} {
		var v Value
		err := json.Unmarshal([]byte(c.in), &v)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\n  want %s", c.in, err, c.want)
		}
	}
	var v Value
	if err := json.Unmarshal([]byte(`{"NS":["1","2.5"]}`), &v); err != nil || len(v.Set) != 2 {
		t.Errorf("a valid number set: %v, %+v", err, v)
	}
}
