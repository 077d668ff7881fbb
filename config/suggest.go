package config

import "strings"

// suggestKey returns the known key closest to an unknown one, or "" when
// none is close enough to be a likely typo. Keys are compared without
// regard to case, with '-' and '_' treated alike, by optimal string
// alignment distance (Levenshtein plus transposition of two adjacent
// characters). A key is suggested when its distance is at most 1 for
// unknown keys of up to 4 characters, 2 up to 8 characters and 3 beyond,
// and smaller than the length of the shorter key; the closest one wins, ties
// going to the alphabetically first.
func suggestKey(unknown string, known []string) string {
	u := foldKey(unknown)
	// 1 up to 4 characters, 2 up to 8, 3 beyond.
	best, bestDist := "", min(3, (len([]rune(u))+3)/4)+1
	for _, k := range known {
		f := foldKey(k)
		d := osaDistance(u, f)
		if k != unknown && d < min(len([]rune(u)), len([]rune(f))) && (d < bestDist || d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	return best
}

// foldKey lowercases a key and maps '-' to '_'.
func foldKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(k), "-", "_")
}

// osaDistance is the optimal string alignment distance between a and b
// (counted in runes): insertions, deletions, substitutions and
// transpositions of adjacent runes each cost 1.
func osaDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows of the dynamic-programming table: i-2, i-1 and i.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
