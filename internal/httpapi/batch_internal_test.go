package httpapi

import "testing"

func TestCountItems(t *testing.T) {
	for body, want := range map[string]int{
		`: []`:                          0,
		` :  [ ] `:                      0,
		`:[{}]`:                         1,
		`:[1,2,3]`:                      3,
		`:[{"a":[1,2]},{"b":{"c":3}}]`:  2,
		`:[{"s":"a,b]}"},{"s":"\",["}]`: 2,
		`:[{"s":"\\"},{"s":"x"}]`:       2,
		`:[{"a":1},`:                    -1,
		`:{"a":1}`:                      -1,
		`:`:                             -1,
		`:[{"s":"unterminated}]`:        -1,
	} {
		if got := countItems([]byte(body)); got != want {
			t.Errorf("countItems(%s) = %d, want %d", body, got, want)
		}
	}
}
