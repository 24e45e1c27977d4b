package attr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCanonicalNumbers(t *testing.T) {
	cases := map[string]string{"1.50": "1.5", "1e2": "100", "-0": "0", "0.000": "0", "-1.25E-1": "-0.125", "007": "7",
		"12345678901234567890123456789012345678": "12345678901234567890123456789012345678", "1E-130": "0." + strings.Repeat("0", 129) + "1"}
	for in, want := range cases {
		if got, err := CanonicalNumber(in); err != nil || got != want {
			t.Errorf("CanonicalNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "one", "1/3", "0x10", "+1", "NaN", "Inf", "1e126", "1e-131", "123456789012345678901234567890123456789"} {
		if got, err := CanonicalNumber(bad); err == nil {
			t.Errorf("CanonicalNumber(%q) = %q, want an error", bad, got)
		}
	}
}

func TestAddAndCompare(t *testing.T) {
	cases := []struct{ a, b, sum, diff string }{
		{"0.1", "0.2", "0.3", "-0.1"}, {"1", "-1", "0", "2"}, {"1e10", "1", "10000000001", "9999999999"},
	}
	for _, c := range cases {
		if s, err := AddNumbers(c.a, c.b, false); err != nil || s != c.sum {
			t.Errorf("%s + %s = %s, %v; want %s", c.a, c.b, s, err, c.sum)
		}
		if d, err := AddNumbers(c.a, c.b, true); err != nil || d != c.diff {
			t.Errorf("%s - %s = %s, %v; want %s", c.a, c.b, d, err, c.diff)
		}
	}
	if CompareNumbers("2", "10") >= 0 || CompareNumbers("1.50", "1.5") != 0 {
		t.Error("numbers compare as strings")
	}
}

func TestValueJSON(t *testing.T) {
	in := `{"M":{"s":{"S":"x"},"n":{"N":"1.50"},"b":{"B":"AAE="},"l":{"L":[{"BOOL":true},{"NULL":true}]},"ss":{"SS":["a","b"]},"ns":{"NS":["1","2.0"]}}}`
	var v Value
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.Map["n"].Str != "1.5" || v.Map["b"].Str != "\x00\x01" || v.Map["ns"].Set[1] != "2" {
		t.Errorf("parsed %+v", v)
	}
	out, _ := json.Marshal(v)
	var again Value
	if err := json.Unmarshal(out, &again); err != nil || !Equal(v, again) {
		t.Errorf("round trip: %s (%v)", out, err)
	}
	for _, bad := range []string{`{}`, `{"S":"a","N":"1"}`, `{"X":"a"}`, `{"N":"one"}`, `{"SS":[]}`, `{"SS":["a","a"]}`, `{"NULL":false}`, `{"B":"!!"}`, `[1]`} {
		var v Value
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
