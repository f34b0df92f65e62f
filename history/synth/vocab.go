package synth

import "math/rand/v2"

// vocabularySize is the total number of distinct words, head plus tail.
const vocabularySize = 30000

// headWords are real words in (roughly) descending chat frequency. They
// take ranks 0..len(headWords)-1. Contractions are written the way people
// type them in chat, without apostrophes, because vocabulary words are
// lowercase ASCII letters only.
var headWords = []string{
	// Very common words in chat, mixed English and chat-speak.
	"the", "i", "to", "a", "you", "it", "and", "is", "that", "of",
	"in", "for", "this", "on", "be", "have", "not", "no", "do", "with",
	"but", "just", "so", "we", "what", "can", "my", "yeah", "are", "if",
	"was", "like", "get", "at", "lol", "all", "me", "think", "its", "im",
	"dont", "out", "or", "know", "up", "there", "how", "your", "ok", "about",
	"one", "they", "will", "now", "thats", "then", "would", "he", "from", "some",
	"use", "yes", "an", "did", "does", "work", "see", "right", "good", "also", "way",
	"should", "need", "here", "because", "why", "more", "thanks", "go", "make", "want",
	"when", "only", "which", "any", "time", "been", "has", "had", "could", "still",
	"maybe", "oh", "well", "actually", "really", "try", "too", "something", "thing", "by",
	// Common English words.
	"people", "them", "than", "other", "into", "look", "come", "over", "back", "after",
	"two", "our", "first", "even", "new", "give", "day", "most", "us", "were",
	"said", "say", "she", "her", "his", "him", "who", "their", "these", "those",
	"where", "much", "many", "very", "through", "down", "off", "again", "same", "own",
	"before", "while", "never", "always", "both", "each", "few", "every", "another", "such",
	"long", "little", "great", "old", "big", "high", "different", "small", "large", "next",
	"early", "young", "important", "public", "bad", "able", "last", "better", "best", "sure",
	"free", "full", "whole", "real", "hard", "easy", "fast", "slow", "open", "close",
	"year", "years", "week", "month", "today", "tomorrow", "yesterday", "tonight", "morning", "night",
	"hour", "hours", "minute", "minutes", "second", "seconds", "moment", "ago", "place", "world",
	"life", "hand", "part", "case", "point", "number", "group", "problem", "fact", "question",
	"answer", "idea", "reason", "kind", "sort", "lot", "bit", "side", "end", "start",
	"home", "house", "room", "car", "money", "water", "food", "game", "name", "word",
	"words", "line", "lines", "page", "story", "team", "company", "system", "program", "job",
	"take", "find", "tell", "ask", "seem", "feel", "leave", "call", "keep", "let",
	"put", "mean", "become", "show", "hear", "play", "run", "move", "live", "believe",
	"bring", "happen", "write", "read", "sit", "stand", "lose", "pay", "meet", "include",
	"continue", "set", "learn", "change", "lead", "understand", "watch", "follow", "stop", "create",
	"speak", "allow", "add", "spend", "grow", "offer", "remember", "love", "consider", "appear",
	"buy", "wait", "serve", "die", "send", "expect", "return", "stay", "fall", "cut",
	"reach", "kill", "remain", "suggest", "raise", "pass", "sell", "require", "report", "decide",
	"pull", "got", "went", "made", "came", "took", "saw", "knew", "thought", "told",
	"found", "gave", "used", "tried", "looks", "seems", "works", "means", "makes", "gets",
	"going", "doing", "getting", "trying", "looking", "working", "using", "making", "saying", "thinking",
	"probably", "pretty", "though", "already", "ever", "else", "almost", "enough", "quite", "rather",
	"since", "until", "without", "between", "under", "around", "against", "during", "across", "behind",
	"yet", "once", "later", "soon", "instead", "anyway", "perhaps", "either", "neither", "whether",
	"cant", "doesnt", "didnt", "isnt", "wasnt", "wont", "wouldnt", "shouldnt", "couldnt", "havent",
	"ive", "youre", "theyre", "weve", "hes", "shes", "theres", "whats", "ill", "id",
	"lets", "aint", "gonna", "wanna", "gotta", "kinda", "sorta", "dunno", "nothing", "everything",
	"anything", "someone", "anyone", "everyone", "nobody", "somewhere", "anywhere", "sometimes", "often", "usually",
	// Chat-speak and interjections.
	"lmao", "haha", "hah", "heh", "hehe", "yep", "yup", "nope", "nah", "hmm",
	"hm", "ah", "ahh", "ugh", "wow", "meh", "oops", "whoa", "damn", "hey",
	"hi", "hello", "yo", "sup", "thx", "ty", "np", "btw", "imo", "imho",
	"afaik", "iirc", "idk", "tbh", "ngl", "fwiw", "brb", "afk", "bbl", "gn",
	"gm", "rn", "tho", "u", "ur", "pls", "plz", "k", "kk", "okay",
	"alright", "cheers", "welcome", "congrats", "sorry", "thank", "please", "cool", "nice", "awesome",
	"neat", "weird", "strange", "funny", "crazy", "wtf", "omg", "ack", "nvm", "ofc",
	"basically", "literally", "definitely", "totally", "exactly", "honestly", "seriously", "apparently", "hopefully", "luckily",
	"coffee", "lunch", "dinner", "weekend", "monday", "friday", "holiday", "vacation", "office", "meeting",
	// Software, ops and IRC words.
	"server", "build", "error", "golang", "irc", "deploy", "bug", "fix", "code", "test",
	"tests", "client", "config", "log", "logs", "release", "version", "commit", "branch", "merge",
	"patch", "issue", "review", "repo", "github", "git", "pr", "ci", "linux", "kernel",
	"docker", "kubernetes", "rust", "python", "java", "javascript", "typescript", "node", "npm", "cargo",
	"gofmt", "module", "package", "import", "function", "func", "method", "struct", "interface", "type",
	"pointer", "nil", "null", "string", "byte", "bytes", "slice", "array", "map", "loop",
	"goroutine", "channel", "channels", "mutex", "lock", "race", "thread", "threads", "async", "await",
	"callback", "compile", "compiler", "binary", "debug", "debugger", "panic", "crash", "stack", "trace",
	"database", "sqlite", "postgres", "mysql", "sql", "query", "queries", "index", "table", "schema",
	"migration", "cache", "memory", "cpu", "disk", "network", "latency", "timeout", "throughput", "bandwidth",
	"api", "http", "https", "json", "yaml", "toml", "xml", "grpc", "rest", "endpoint",
	"request", "response", "header", "headers", "body", "status", "tls", "ssl", "cert", "dns",
	"tcp", "udp", "socket", "port", "proxy", "nginx", "caddy", "cloud", "aws", "vm",
	"container", "image", "tag", "env", "variable", "flag", "flags", "option", "options", "default",
	"docs", "readme", "wiki", "spec", "rfc", "protocol", "message", "messages", "history", "search",
	"scrollback", "backlog", "highlight", "mention", "notification", "notifications", "webhook", "bot", "bots", "bouncer",
	"znc", "soju", "weechat", "irssi", "hexchat", "matrix", "discord", "slack", "bridge", "relay",
	"nick", "nickserv", "chanserv", "sasl", "auth", "login", "logout", "password", "token", "key",
	"keys", "ssh", "sudo", "root", "user", "users", "admin", "permission", "permissions", "owner",
	"ban", "kick", "op", "voice", "mode", "topic", "join", "parted", "quit", "away",
	"ping", "pong", "netsplit", "reconnect", "disconnect", "connected", "connection", "session", "sessions", "account",
	"vim", "emacs", "editor", "terminal", "shell", "bash", "zsh", "script", "cron", "systemd",
	"restart", "reboot", "upgrade", "update", "install", "uninstall", "dependency", "dependencies", "vendor", "library",
	"benchmark", "benchmarks", "perf", "profile", "profiler", "flamegraph", "metrics", "prometheus", "grafana", "dashboard",
	"alert", "alerts", "pager", "oncall", "incident", "outage", "downtime", "uptime", "prod", "production",
	"staging", "dev", "localhost", "local", "remote", "upstream", "fork", "push", "pushed", "pulled",
	"merged", "rebase", "rebased", "revert", "reverted", "broken", "broke", "fixed", "failing", "failed",
	"passing", "green", "red", "flaky", "regression", "feature", "features", "refactor", "cleanup", "tooling",
	"file", "files", "folder", "directory", "path", "volume", "backup", "backups", "storage", "bucket",
	"data", "dataset", "sample", "samples", "input", "output", "format", "parse", "parser", "encode",
	"decode", "unicode", "utf", "emoji", "text", "render", "print", "printf", "println", "stdout",
	"stderr", "stdin", "pipe", "signal", "process", "pid", "daemon", "service", "services", "worker",
	"workers", "queue", "runner", "jobs", "task", "tasks", "event", "events", "stream", "streams",
	"laptop", "desktop", "phone", "browser", "firefox", "chrome", "android", "ios", "mac", "windows",
}

// Syllable parts for the pseudo-word tail and for nicks. Changing these
// changes every generated corpus.
var (
	onsets = []string{
		"b", "d", "f", "g", "k", "l", "m", "n", "p", "r",
		"s", "t", "v", "z", "h", "b", "d", "k", "l", "m",
		"n", "r", "s", "t", "v", "br", "tr", "st", "sh", "ch",
		"th", "kl", "pr", "gr", "dr", "fl",
	}
	vowels = []string{"a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "e", "ai", "ou", "ea"}
	codas  = []string{"", "", "", "", "", "n", "r", "s", "l", "m", "k", "n", "s", "nd", "st", "x"}
)

// vocabulary holds the words by rank; vocabRank is its inverse.
var (
	vocabulary = buildVocabulary()
	vocabRank  = buildRankIndex(vocabulary)
)

// buildVocabulary returns the head words followed by deterministic
// pseudo-words until vocabularySize words exist. It panics if the typed-in
// head contains a duplicate or a non-letter, which is a programming error.
func buildVocabulary() []string {
	words := make([]string, 0, vocabularySize)
	seen := make(map[string]bool, vocabularySize)
	for _, w := range headWords {
		if !isVocabWord(w) {
			panic("synth: head word is not lowercase ASCII letters: " + w)
		}
		if seen[w] {
			panic("synth: duplicate head word: " + w)
		}
		seen[w] = true
		words = append(words, w)
	}
	// A fixed stream; the tail order is the order of first appearance.
	src := rand.NewPCG(0x73796e7468766f63, 0x6162756c61727921)
	buf := make([]byte, 0, 24)
	for len(words) < vocabularySize {
		buf = appendPseudoWord(buf[:0], src)
		if seen[string(buf)] {
			continue
		}
		w := string(buf)
		seen[w] = true
		words = append(words, w)
	}
	return words
}

// appendPseudoWord appends a pronounceable word of 2 to 4 syllables built
// from the onset, vowel and coda tables, drawing from src.
func appendPseudoWord(b []byte, src *rand.PCG) []byte {
	x := src.Uint64()
	n := 2
	switch sel := x % 20; {
	case sel >= 17:
		n = 4
	case sel >= 7:
		n = 3
	}
	x /= 20
	if x%10 == 0 { // one word in ten starts with a vowel
		b = append(b, vowels[src.Uint64()%5]...)
		n--
	}
	x /= 10
	for i := 0; i < n; i++ {
		b = append(b, onsets[src.Uint64()%uint64(len(onsets))]...)
		b = append(b, vowels[src.Uint64()%uint64(len(vowels))]...)
	}
	if x%10 < 6 { // most words close with a consonant
		b = append(b, codas[5+src.Uint64()%uint64(len(codas)-5)]...)
	}
	return b
}

func buildRankIndex(words []string) map[string]int {
	m := make(map[string]int, len(words))
	for i, w := range words {
		m[w] = i
	}
	return m
}

func isVocabWord(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// VocabularySize returns the number of distinct words in the vocabulary.
func VocabularySize() int { return len(vocabulary) }

// WordAt returns the word with the given frequency rank (0 = most common),
// or "" if rank is out of range.
func WordAt(rank int) string {
	if rank < 0 || rank >= len(vocabulary) {
		return ""
	}
	return vocabulary[rank]
}

// Rank returns the frequency rank of word (0 = most common) and whether
// word is in the vocabulary. Words are lowercase; Rank does not fold case.
func Rank(word string) (int, bool) {
	r, ok := vocabRank[word]
	return r, ok
}
