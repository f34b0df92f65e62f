package synth

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
)

// Distribution parameters. Changing any of them changes every corpus.
const (
	maxWords = 60 // longest sentence, in word slots

	// Per-mille chances of sentence features.
	pAddressed   = 70  // "nick: ..." prefix
	pMidMention  = 12  // a nick in place of a word
	pURL         = 30  // one URL somewhere in the line
	pCapitalise  = 150 // capitalised first word
	pCapitalI    = 300 // "I" instead of "i"
	pComma       = 35  // comma after a word
	pOwnMessage  = 90  // in a Plan, the user's own nick speaks
	netPeople    = 2000
	guideBits    = 12
	cdfScaleBits = 63
)

// zipfWeight returns k^-(1+1/8) for k >= 1. The exponent 1.125 (≈1.1) is
// chosen so that only correctly rounded IEEE operations are needed, which
// makes the tables bit-identical on every platform (math.Pow is not
// guaranteed to be). The explicit conversion prevents fused operations.
func zipfWeight(k int) float64 {
	x := float64(k)
	r := math.Sqrt(math.Sqrt(math.Sqrt(x)))
	return 1 / float64(x*r)
}

// cdf is a discrete distribution over 0..len(cum)-1 quantised to integers:
// outcome i covers [cum[i-1], cum[i]) of [0, 2^63). guide[b] is the first
// outcome whose interval ends above b<<(63-guideBits), so sampling is one
// table lookup plus a short binary search.
type cdf struct {
	cum   []uint64
	guide []int32
}

func newCDF(weights []float64) *cdf {
	var total float64
	for _, w := range weights {
		total = float64(total + w)
	}
	c := &cdf{cum: make([]uint64, len(weights))}
	var acc float64
	for i, w := range weights {
		acc = float64(acc + w)
		c.cum[i] = uint64(float64(acc/total) * (1 << cdfScaleBits))
		if i > 0 && c.cum[i] <= c.cum[i-1] {
			panic("synth: zero-width outcome in distribution")
		}
	}
	c.cum[len(weights)-1] = 1 << cdfScaleBits
	c.guide = make([]int32, 1<<guideBits+1)
	i := 0
	for b := range c.guide {
		lim := uint64(b) << (cdfScaleBits - guideBits)
		for i < len(c.cum)-1 && c.cum[i] <= lim {
			i++
		}
		c.guide[b] = int32(i)
	}
	return c
}

// sample maps 64 random bits to an outcome.
func (c *cdf) sample(x uint64) int {
	r := x >> (64 - cdfScaleBits)
	b := r >> (cdfScaleBits - guideBits)
	lo, hi := int(c.guide[b]), int(c.guide[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.cum[m] > r {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

func (c *cdf) prob(i int) float64 {
	lo := uint64(0)
	if i > 0 {
		lo = c.cum[i-1]
	}
	return float64(c.cum[i]-lo) / (1 << cdfScaleBits)
}

var (
	wordDist   = newWordDist()
	lengthDist = newLengthDist()
	// questionStart marks head ranks that usually open a question.
	questionStart = markRanks("what", "how", "why", "who", "where", "when", "which",
		"is", "are", "does", "do", "did", "can", "could", "should", "would", "anyone", "any", "isnt")
	rankI = vocabRank["i"]
	tlds  = []string{"com", "org", "net", "io", "dev"}
)

func newWordDist() *cdf {
	w := make([]float64, len(vocabulary))
	for i := range w {
		w[i] = zipfWeight(i + 1)
	}
	return newCDF(w)
}

// newLengthDist is the number of word slots per line, 1..maxWords:
// p(n) ∝ n·q^n (a discrete gamma shape, mode ≈ 6, long right tail) plus
// extra mass on one-word lines ("lol", "yeah", "thanks").
func newLengthDist() *cdf {
	const q = 0.840
	w := make([]float64, maxWords)
	p := 1.0
	for n := 1; n <= maxWords; n++ {
		p = float64(p * q)
		w[n-1] = float64(float64(n) * p)
	}
	w[0] = float64(w[0] * 3)
	return newCDF(w)
}

func markRanks(words ...string) []bool {
	m := make([]bool, len(headWords))
	for _, w := range words {
		r, ok := vocabRank[w]
		if !ok {
			panic("synth: unknown question word " + w)
		}
		m[r] = true
	}
	return m
}

// Probability returns the probability that one Word draw yields the word
// of the given rank (0 for an out-of-range rank). It is the exact
// probability of the quantised table the generator samples from, so
// expected counts of rare words in a corpus are known: roughly
// Probability(rank) × total words.
func Probability(rank int) float64 {
	if rank < 0 || rank >= len(vocabulary) {
		return 0
	}
	return wordDist.prob(rank)
}

// mix64 is the SplitMix64 finaliser, used to derive independent seeds and
// per-entity keys.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// stream is a PCG source with the few derived draws the package needs,
// implemented here so that output never depends on rand.Rand internals.
type stream struct{ pcg rand.PCG }

func (s *stream) seed(x uint64) { s.pcg.Seed(mix64(x), mix64(x^0x5bd1e9955bd1e995)) }

func (s *stream) u64() uint64 { return s.pcg.Uint64() }

// intn returns a uniform int in [0, n) for n > 0 (Lemire's method).
func (s *stream) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(s.u64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(s.u64(), un)
		}
	}
	return int(hi)
}

// permille reports true with probability p/1000.
func (s *stream) permille(p int) bool {
	return int((s.u64()>>32)*1000>>32) < p
}

// Generator produces words and chat lines. It is not safe for concurrent
// use; create one per goroutine (with different seeds).
type Generator struct {
	stream
	buf []byte
}

// New returns a generator whose output is a pure function of seed.
func New(seed uint64) *Generator {
	g := &Generator{buf: make([]byte, 0, 512)}
	g.seed(seed)
	return g
}

// Word returns one vocabulary word drawn with Zipf probability.
func (g *Generator) Word() string { return vocabulary[wordDist.sample(g.u64())] }

// Sentence returns one chat line: mostly lowercase words, about 11 on
// average (1..60), with occasional capitalisation, commas, end
// punctuation, emoticons, URLs and nick mentions.
func (g *Generator) Sentence() string { return g.sentence(g) }

// mentionNick makes Generator a nickSource of random nicks.
func (g *Generator) mentionNick() string { return nickName(g.u64()) }

type nickSource interface{ mentionNick() string }

func (g *Generator) sentence(nicks nickSource) string {
	n := lengthDist.sample(g.u64()) + 1
	b := g.buf[:0]
	capFirst := g.permille(pCapitalise)
	if n >= 2 && g.permille(pAddressed) {
		b = append(b, nicks.mentionNick()...)
		if g.permille(800) {
			b = append(b, ':', ' ')
		} else {
			b = append(b, ',', ' ')
		}
		n--
	}
	urlAt := -1
	if g.permille(pURL) {
		urlAt = g.intn(n)
	}
	question := false
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		switch {
		case i == urlAt:
			b = g.appendURL(b)
			continue
		case i > 0 && g.permille(pMidMention):
			b = append(b, nicks.mentionNick()...)
			continue
		}
		rank := wordDist.sample(g.u64())
		start := len(b)
		b = append(b, vocabulary[rank]...)
		if i == 0 {
			question = rank < len(questionStart) && questionStart[rank]
			if capFirst {
				b[start] -= 'a' - 'A'
			}
		} else if rank == rankI && g.permille(pCapitalI) {
			b[start] = 'I'
		}
		if i < n-1 && g.permille(pComma) {
			b = append(b, ',')
		}
	}
	b = g.appendEnding(b, question)
	g.buf = b
	return string(b)
}

func (g *Generator) appendEnding(b []byte, question bool) []byte {
	x := g.intn(1000)
	if question {
		if x < 550 {
			return append(b, '?')
		}
		x -= 550
	}
	switch {
	case x < 110:
		return append(b, '.')
	case x < 160:
		return append(b, '?')
	case x < 200:
		return append(b, '!')
	case x < 220:
		return append(b, "..."...)
	case x < 235:
		return append(b, " :)"...)
	case x < 240:
		return append(b, " :("...)
	case x < 244:
		return append(b, " :D"...)
	case x < 247:
		return append(b, "!!"...)
	case x < 250:
		return append(b, "?!"...)
	}
	return b
}

// tailWord draws a word for URL paths: Zipf, but skipping the head so
// paths look like identifiers rather than "the/of".
func (g *Generator) tailWord() string {
	r := wordDist.sample(g.u64())
	if r < 100 {
		r = 100 + g.intn(len(vocabulary)-100)
	}
	return vocabulary[r]
}

func (g *Generator) appendURL(b []byte) []byte {
	switch g.intn(5) {
	case 0, 1:
		b = append(b, "https://github.com/"...)
		b = append(b, g.tailWord()...)
		b = append(b, '/')
		b = append(b, g.tailWord()...)
		if g.permille(400) {
			b = append(b, "/issues/"...)
			b = strconv.AppendInt(b, int64(1+g.intn(5000)), 10)
		}
	case 2:
		b = append(b, "https://pkg.go.dev/"...)
		b = append(b, g.tailWord()...)
	default:
		b = append(b, "https://"...)
		if g.permille(300) {
			b = append(b, "www."...)
		}
		b = append(b, g.tailWord()...)
		b = append(b, '.')
		b = append(b, tlds[g.intn(len(tlds))]...)
		for k := g.intn(3); k > 0; k-- {
			b = append(b, '/')
			b = append(b, g.tailWord()...)
		}
	}
	return b
}

// nickName turns 64 hash bits into an IRC-style nick such as "tavo",
// "Mekulas_" or "brin42".
func nickName(h uint64) string {
	var a [24]byte
	b := a[:0]
	n := [4]int{1, 2, 2, 3}[h&3]
	h >>= 2
	for i := 0; i < n; i++ {
		b = append(b, onsets[h%uint64(len(onsets))]...)
		h /= uint64(len(onsets))
		b = append(b, vowels[h%uint64(len(vowels))]...)
		h /= uint64(len(vowels))
	}
	b = append(b, codas[h%uint64(len(codas))]...)
	h /= uint64(len(codas))
	switch sel := h % 16; {
	case sel < 2:
		b = append(b, '_')
	case sel < 4:
		b = strconv.AppendUint(b, (h>>4)%100, 10)
	case sel == 4:
		b = append(b, '`')
	}
	h >>= 11
	if h%8 == 0 {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}

// Plan describes a synthetic history: Users bouncer users, each with
// NetworksPerUser networks, each with ConversationsPerNetwork
// conversations (channels and queries), and Messages messages in total.
// Version names the generator's output: bump it with any change that
// alters a corpus (the golden tests fail first), so that a database
// generated by an older version and kept for reuse is never taken for the
// current one.
const Version = 1

type Plan struct {
	Seed                    uint64
	Users                   int
	NetworksPerUser         int
	ConversationsPerNetwork int
	Messages                int
}

// Message is one generated history line. User, Network and Conversation
// are zero-based indices (Network within the user, Conversation within the
// network). Seq is the zero-based position in the stream, strictly
// increasing, so callers can derive timestamps as base + Seq×interval.
type Message struct {
	User, Network, Conversation int
	Sender                      string
	Body                        string
	Seq                         int
}

// Conversations returns the total number of conversations in the plan.
func (p Plan) Conversations() int {
	return p.Users * p.NetworksPerUser * p.ConversationsPerNetwork
}

func (p Plan) validate() error {
	if p.Users < 1 || p.NetworksPerUser < 1 || p.ConversationsPerNetwork < 1 {
		return fmt.Errorf("synth: plan needs at least one user, network and conversation (got %d, %d, %d)",
			p.Users, p.NetworksPerUser, p.ConversationsPerNetwork)
	}
	if p.Messages < 0 {
		return errors.New("synth: negative message count")
	}
	t := int64(p.Users)
	for _, f := range []int{p.NetworksPerUser, p.ConversationsPerNetwork} {
		if t > math.MaxInt32/int64(f) {
			return errors.New("synth: plan has too many conversations (limit 2^31-1)")
		}
		t *= int64(f)
	}
	return nil
}

// Each streams the plan's messages to fn in a deterministic order and
// stops at the first error fn returns, returning it. Traffic is
// interleaved at random across conversations with a Zipf skew (a few busy
// channels get most messages; which ones is drawn from the seed). If
// Messages is at least the number of conversations, every conversation
// gets at least one message. Each conversation has its own set of
// speakers drawn from its network's population (busier conversations have
// more), plus the user's own nick.
//
// Memory is O(conversations), independent of Messages: 10M messages over
// a few thousand conversations use a few hundred kilobytes.
func (p Plan) Each(fn func(Message) error) error {
	if err := p.validate(); err != nil {
		return err
	}
	total := p.Conversations()
	var sched stream
	sched.seed(mix64(p.Seed ^ 0x7363686564756c65))

	// rankOf[rank] = global conversation index; rank 0 is the busiest.
	rankOf := make([]int32, total)
	for i := range rankOf {
		rankOf[i] = int32(i)
	}
	for i := total - 1; i > 0; i-- {
		j := sched.intn(i + 1)
		rankOf[i], rankOf[j] = rankOf[j], rankOf[i]
	}
	fen := newFenwick(quotas(total, p.Messages))

	g := New(mix64(p.Seed ^ 0x626f646965732121))
	base := mix64(p.Seed ^ 0x6e69636b6e616d65)
	var cs convState
	cs.g = g
	remaining := p.Messages
	for seq := 0; seq < p.Messages; seq++ {
		rank := fen.take(sched.intn(remaining))
		remaining--
		id := int(rankOf[rank])
		conv := id % p.ConversationsPerNetwork
		net := id / p.ConversationsPerNetwork % p.NetworksPerUser
		user := id / p.ConversationsPerNetwork / p.NetworksPerUser
		cs.reset(base, user, net, id, rank)

		var sender string
		if g.permille(pOwnMessage) {
			sender = nickName(mix64(cs.netKey ^ 0x73656c66))
		} else {
			sender = cs.participant(min(g.intn(cs.people), g.intn(cs.people)))
		}
		m := Message{
			User:         user,
			Network:      net,
			Conversation: conv,
			Sender:       sender,
			Body:         g.sentence(&cs),
			Seq:          seq,
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// convState describes the conversation a message is being generated for;
// it is the nick source for mentions.
type convState struct {
	g      *Generator
	netKey uint64
	key    uint64
	people int
}

func (c *convState) reset(base uint64, user, net, id, rank int) {
	c.netKey = mix64(base ^ mix64(uint64(user)<<32|uint64(net)))
	c.key = mix64(base ^ 0xc0 ^ uint64(id)<<8)
	c.people = 2 + 300/(rank+1) + int(c.key%4)
}

// participant returns the nick of the conversation's k-th participant; it
// is a person of the network, so nicks recur across a network's channels.
func (c *convState) participant(k int) string {
	person := mix64(c.key+uint64(k)) % netPeople
	return nickName(mix64(c.netKey + person*0x9e3779b97f4a7c15))
}

func (c *convState) mentionNick() string { return c.participant(c.g.intn(c.people)) }

// quotas returns how many messages each conversation rank receives: one
// each when there are enough messages, the rest split in proportion to
// Zipf weights with integer arithmetic (leftovers go to the top ranks).
func quotas(conversations, messages int) []int64 {
	q := make([]int64, conversations)
	extra := messages
	if messages >= conversations {
		for i := range q {
			q[i] = 1
		}
		extra -= conversations
	}
	w := make([]uint64, conversations)
	var sum uint64
	for i := range w {
		w[i] = max(1, uint64(zipfWeight(i+1)*(1<<32)))
		sum += w[i]
	}
	left := int64(extra)
	for i := range q {
		hi, lo := bits.Mul64(uint64(extra), w[i])
		share, _ := bits.Div64(hi, lo, sum)
		q[i] += int64(share)
		left -= int64(share)
	}
	for i := 0; left > 0; i++ {
		q[i]++
		left--
	}
	return q
}

// fenwick holds the remaining message count per conversation rank and
// supports drawing a rank in proportion to what is left.
type fenwick struct {
	tree []int64 // 1-based
	top  int     // highest power of two <= len
}

func newFenwick(counts []int64) *fenwick {
	n := len(counts)
	f := &fenwick{tree: make([]int64, n+1), top: 1}
	for f.top*2 <= n {
		f.top *= 2
	}
	copy(f.tree[1:], counts)
	for i := 1; i <= n; i++ {
		if j := i + i&-i; j <= n {
			f.tree[j] += f.tree[i]
		}
	}
	return f
}

// take returns the index whose cumulative range contains r (0 <= r <
// remaining total) and decrements its count.
func (f *fenwick) take(r int) int {
	rem := int64(r)
	pos := 0
	n := len(f.tree) - 1
	for step := f.top; step > 0; step >>= 1 {
		if next := pos + step; next <= n && f.tree[next] <= rem {
			pos = next
			rem -= f.tree[next]
		}
	}
	for i := pos + 1; i <= n; i += i & -i {
		f.tree[i]--
	}
	return pos
}
