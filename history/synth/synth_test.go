package synth

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

func TestDeterminism(t *testing.T) {
	a, b := New(42), New(42)
	for i := 0; i < 10000; i++ {
		if sa, sb := a.Sentence(), b.Sentence(); sa != sb {
			t.Fatalf("sentence %d differs: %q vs %q", i, sa, sb)
		}
		if wa, wb := a.Word(), b.Word(); wa != wb {
			t.Fatalf("word %d differs: %q vs %q", i, wa, wb)
		}
	}
}

func TestSeedsDiffer(t *testing.T) {
	a, b := New(1), New(2)
	same := 0
	for i := 0; i < 1000; i++ {
		if a.Sentence() == b.Sentence() {
			same++
		}
	}
	// Identical one-word lines ("the", "lol") happen by chance; whole
	// streams must not coincide.
	if same > 100 {
		t.Fatalf("%d of 1000 sentences identical across seeds 1 and 2", same)
	}
}

func hashSentences(seed uint64, n int) uint64 {
	h := fnv.New64a()
	g := New(seed)
	for i := 0; i < n; i++ {
		fmt.Fprintln(h, g.Sentence())
		fmt.Fprintln(h, g.Word())
	}
	return h.Sum64()
}

func hashPlan(t *testing.T, p Plan) uint64 {
	t.Helper()
	h := fnv.New64a()
	err := p.Each(func(m Message) error {
		fmt.Fprintf(h, "%d %d %d %d %s %s\n", m.Seq, m.User, m.Network, m.Conversation, m.Sender, m.Body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.Sum64()
}

// TestGolden pins the output. If it fails, the generated corpora changed:
// benchmark numbers are no longer comparable with earlier runs. Only update
// the constants on purpose.
func TestGolden(t *testing.T) {
	h := fnv.New64a()
	for _, w := range vocabulary {
		fmt.Fprintln(h, w)
	}
	if got, want := h.Sum64(), uint64(goldenVocab); got != want {
		t.Errorf("vocabulary hash = %#x, want %#x", got, want)
	}
	if got, want := hashSentences(42, 2000), uint64(goldenSentences); got != want {
		t.Errorf("sentence hash = %#x, want %#x", got, want)
	}
	p := Plan{Seed: 7, Users: 3, NetworksPerUser: 2, ConversationsPerNetwork: 10, Messages: 5000}
	if got, want := hashPlan(t, p), uint64(goldenPlan); got != want {
		t.Errorf("plan hash = %#x, want %#x", got, want)
	}
	if got := New(42).Sentence(); got != goldenFirst {
		t.Errorf("first sentence = %q, want %q", got, goldenFirst)
	}
}

const (
	goldenVocab     = 0x40276c5be3eaa6e8
	goldenSentences = 0x7f9e437fb386890a
	goldenPlan      = 0xab8c405371c15dd0
	goldenFirst     = "tanes97: Totherosor"
)

func TestMeanWordCount(t *testing.T) {
	g := New(3)
	const n = 100000
	words, longest := 0, 0
	for i := 0; i < n; i++ {
		s := g.Sentence()
		if s == "" || strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
			t.Fatalf("malformed sentence %q", s)
		}
		k := len(strings.Fields(s))
		words += k
		longest = max(longest, k)
	}
	mean := float64(words) / n
	t.Logf("mean %.3f words, longest %d", mean, longest)
	if mean < 10 || mean > 12 {
		t.Fatalf("mean word count %.3f, want 11±1", mean)
	}
	if longest > maxWords+2 {
		t.Fatalf("longest sentence has %d words, want <= %d", longest, maxWords+2)
	}
}

func TestZipf(t *testing.T) {
	g := New(4)
	const n = 1000000
	counts := make([]int, VocabularySize())
	for i := 0; i < n; i++ {
		r, ok := Rank(g.Word())
		if !ok {
			t.Fatal("Word returned a word outside the vocabulary")
		}
		counts[r]++
	}
	if counts[0] < 50*max(1, counts[999]) {
		t.Fatalf("rank 0 drawn %d times, rank 999 %d times: not skewed enough", counts[0], counts[999])
	}
	// Sampling matches the published probabilities.
	for _, r := range []int{0, 1, 10, 100} {
		want := Probability(r) * n
		if got := float64(counts[r]); got < want*0.95 || got > want*1.05 {
			t.Errorf("rank %d drawn %v times, want about %.0f", r, got, want)
		}
	}
	// Rare tail words exist and are drawn.
	if p := Probability(VocabularySize() - 1); p <= 0 || p > 1e-5 {
		t.Errorf("probability of the rarest word = %g", p)
	}
	tail := 0
	for _, c := range counts[VocabularySize()/2:] {
		tail += c
	}
	if tail == 0 {
		t.Error("no tail words drawn")
	}
	var sum float64
	for r := range VocabularySize() {
		sum += Probability(r)
	}
	if sum < 0.999999 || sum > 1.000001 {
		t.Errorf("probabilities sum to %v", sum)
	}
}

func TestVocabulary(t *testing.T) {
	if n := VocabularySize(); n < 29000 || n > 31000 {
		t.Fatalf("VocabularySize = %d", n)
	}
	seen := make(map[string]int, VocabularySize())
	for r := range VocabularySize() {
		w := WordAt(r)
		if !isVocabWord(w) {
			t.Fatalf("word %d = %q is not lowercase ASCII letters", r, w)
		}
		if prev, dup := seen[w]; dup {
			t.Fatalf("word %q at ranks %d and %d", w, prev, r)
		}
		seen[w] = r
		if got, ok := Rank(w); !ok || got != r {
			t.Fatalf("Rank(%q) = %d, %v; want %d", w, got, ok, r)
		}
	}
	for _, w := range []string{"the", "lol", "yeah", "thanks", "server", "build", "error", "golang", "irc", "deploy"} {
		r, ok := Rank(w)
		if !ok || r >= len(headWords) {
			t.Errorf("Rank(%q) = %d, %v; want a head word", w, r, ok)
		}
	}
	if r, _ := Rank("the"); r != 0 {
		t.Errorf("Rank(the) = %d", r)
	}
	if _, ok := Rank("The"); ok {
		t.Error("Rank folds case")
	}
	if WordAt(-1) != "" || WordAt(VocabularySize()) != "" {
		t.Error("WordAt out of range returned a word")
	}
}

func TestEach(t *testing.T) {
	p := Plan{Seed: 9, Users: 4, NetworksPerUser: 3, ConversationsPerNetwork: 25, Messages: 50000}
	perConv := make(map[[3]int]int)
	seq := 0
	err := p.Each(func(m Message) error {
		if m.Seq != seq {
			t.Fatalf("Seq = %d, want %d", m.Seq, seq)
		}
		seq++
		if m.User < 0 || m.User >= p.Users || m.Network < 0 || m.Network >= p.NetworksPerUser ||
			m.Conversation < 0 || m.Conversation >= p.ConversationsPerNetwork {
			t.Fatalf("message out of range: %+v", m)
		}
		if m.Sender == "" || m.Body == "" {
			t.Fatalf("empty sender or body: %+v", m)
		}
		perConv[[3]int{m.User, m.Network, m.Conversation}]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq != p.Messages {
		t.Fatalf("got %d messages, want %d", seq, p.Messages)
	}
	if len(perConv) != p.Conversations() {
		t.Fatalf("%d conversations got messages, want %d", len(perConv), p.Conversations())
	}
	busiest, total := 0, 0
	for _, c := range perConv {
		busiest = max(busiest, c)
		total += c
	}
	// Zipf skew: the busiest conversation far exceeds a fair share.
	if fair := total / len(perConv); busiest < 20*fair {
		t.Errorf("busiest conversation has %d messages, fair share %d: not skewed", busiest, fair)
	}
	if a, b := hashPlan(t, p), hashPlan(t, p); a != b {
		t.Error("Each is not deterministic")
	}
	q := p
	q.Seed++
	if hashPlan(t, p) == hashPlan(t, q) {
		t.Error("different plan seeds produced the same history")
	}
}

func TestEachSmall(t *testing.T) {
	for _, p := range []Plan{
		{Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 1, Messages: 0},
		{Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 1, Messages: 3},
		{Users: 2, NetworksPerUser: 2, ConversationsPerNetwork: 50, Messages: 10}, // fewer messages than conversations
		{Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 7, Messages: 7},
	} {
		n := 0
		if err := p.Each(func(Message) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != p.Messages {
			t.Errorf("%+v: got %d messages", p, n)
		}
	}
}

func TestEachStopsOnError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	p := Plan{Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 3, Messages: 100}
	err := p.Each(func(Message) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Fatalf("err = %v after %d messages", err, n)
	}
}

func TestEachInvalid(t *testing.T) {
	for _, p := range []Plan{
		{Users: 0, NetworksPerUser: 1, ConversationsPerNetwork: 1, Messages: 1},
		{Users: 1, NetworksPerUser: 0, ConversationsPerNetwork: 1, Messages: 1},
		{Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 0, Messages: 1},
		{Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 1, Messages: -1},
		{Users: 1 << 20, NetworksPerUser: 1 << 10, ConversationsPerNetwork: 1 << 10, Messages: 1},
	} {
		if err := p.Each(func(Message) error { return nil }); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

func TestQuotas(t *testing.T) {
	for _, c := range [][2]int{{1, 0}, {1, 5}, {10, 3}, {10, 10}, {300, 10000000}, {60000, 1000000}} {
		q := quotas(c[0], c[1])
		var sum int64
		for i, v := range q {
			if v < 0 || (c[1] >= c[0] && v < 1) {
				t.Fatalf("quotas(%d, %d)[%d] = %d", c[0], c[1], i, v)
			}
			sum += v
		}
		if sum != int64(c[1]) {
			t.Errorf("quotas(%d, %d) sum to %d", c[0], c[1], sum)
		}
	}
}

func BenchmarkSentence(b *testing.B) {
	g := New(1)
	bytes := 0
	for b.Loop() {
		bytes += len(g.Sentence())
	}
	b.SetBytes(int64(bytes / max(1, b.N)))
}

func BenchmarkWord(b *testing.B) {
	g := New(1)
	for b.Loop() {
		_ = g.Word()
	}
}

func BenchmarkEach(b *testing.B) {
	p := Plan{Seed: 1, Users: 10, NetworksPerUser: 3, ConversationsPerNetwork: 50, Messages: b.N}
	b.ResetTimer()
	if err := p.Each(func(Message) error { return nil }); err != nil {
		b.Fatal(err)
	}
}
