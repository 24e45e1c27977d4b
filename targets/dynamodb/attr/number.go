package attr

import (
	"errors"
	"math/big"
	"strings"
)

// DynamoDB numbers have up to 38 significant digits and magnitudes from
// 1E-130 to 9.9999999999999999999999999999999999999E+125.
const maxDigits = 38

var errNumber = errors.New("The parameter cannot be converted to a numeric value")

// CanonicalNumber parses a decimal number exactly and returns it in a
// canonical form ("1.50" → "1.5", "1e2" → "100", "-0" → "0"), so equal
// numbers have equal strings.
func CanonicalNumber(s string) (string, error) {
	r, err := parse(s)
	if err != nil {
		return "", err
	}
	return format(r), nil
}

// CompareNumbers compares two canonical (or any valid) number strings.
func CompareNumbers(a, b string) int {
	ra, _ := parse(a)
	rb, _ := parse(b)
	return ra.Cmp(rb)
}

// AddNumbers returns a+b (or a-b when negate) in canonical form.
func AddNumbers(a, b string, negate bool) (string, error) {
	ra, err := parse(a)
	if err != nil {
		return "", err
	}
	rb, err := parse(b)
	if err != nil {
		return "", err
	}
	if negate {
		rb.Neg(rb)
	}
	sum := new(big.Rat).Add(ra, rb)
	out := format(sum)
	if significant(out) > maxDigits {
		return "", errors.New("Number overflow. Attempting to store a number with magnitude larger than supported range")
	}
	return out, nil
}

func parse(s string) (*big.Rat, error) {
	t := strings.TrimSpace(s)
	if t == "" || len(t) > 200 || strings.ContainsAny(t, "/xXpP_") || strings.HasPrefix(t, "+") {
		return nil, errNumber
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return nil, errNumber
	}
	if r.Sign() != 0 {
		abs := new(big.Rat).Abs(r)
		if abs.Cmp(minMagnitude) < 0 || abs.Cmp(maxMagnitude) >= 0 {
			return nil, errors.New("Number overflow. Attempting to store a number with magnitude larger than supported range")
		}
	}
	if significant(format(r)) > maxDigits {
		return nil, errors.New("Attempting to store more than 38 significant digits in a Number")
	}
	return r, nil
}

var (
	minMagnitude, _ = new(big.Rat).SetString("1e-130")
	maxMagnitude, _ = new(big.Rat).SetString("1e126")
)

// format writes a rational whose denominator is 2^a·5^b (every decimal is)
// exactly, without trailing zeros.
func format(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	d := new(big.Int).Set(r.Denom())
	digits := 0
	two, five, zero := big.NewInt(2), big.NewInt(5), big.NewInt(0)
	a, b := 0, 0
	m := new(big.Int)
	for m.Mod(d, two).Cmp(zero) == 0 {
		d.Div(d, two)
		a++
	}
	for m.Mod(d, five).Cmp(zero) == 0 {
		d.Div(d, five)
		b++
	}
	digits = max(a, b)
	s := r.FloatString(digits)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// significant counts significant digits of a canonical number.
func significant(s string) int {
	s = strings.TrimLeft(strings.Replace(strings.TrimPrefix(s, "-"), ".", "", 1), "0")
	s = strings.TrimRight(s, "0")
	return max(len(s), 1)
}
