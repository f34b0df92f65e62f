package core

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"hash"
	"testing"
)

// The SCRAM examples of RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256):
// user "user", password "pencil", 4096 iterations.
var scramVectors = []struct {
	mech        string
	salt        string
	authMessage string
	clientProof string // p= of client-final-message
	serverSig   string // v= of server-final-message
}{
	{
		mech: ScramSHA1,
		salt: "QSXCR+Q6sek8bf92",
		authMessage: "n=user,r=fyko+d2lbbFgONRv9qkxdawL," +
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096," +
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
		clientProof: "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverSig:   "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		mech: ScramSHA256,
		salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		authMessage: "n=user,r=rOprNGfwEbeRWgbNEkqO," +
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		clientProof: "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverSig:   "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func TestDeriveScramKeysRFCVectors(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.mech, func(t *testing.T) {
			salt := b64(t, v.salt)
			k, err := DeriveScramKeys(v.mech, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if k.Mechanism != v.mech || k.Iterations != 4096 || !bytes.Equal(k.Salt, salt) {
				t.Errorf("keys carry %q, %d, %x", k.Mechanism, k.Iterations, k.Salt)
			}
			h, _ := scramHash(v.mech)
			// The server proves itself with ServerKey.
			if got := mac(h, k.ServerKey, v.authMessage); !bytes.Equal(got, b64(t, v.serverSig)) {
				t.Errorf("ServerSignature %x, RFC has %x", got, b64(t, v.serverSig))
			}
			// The server checks the client's proof with StoredKey:
			// H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey.
			proof := b64(t, v.clientProof)
			clientSig := mac(h, k.StoredKey, v.authMessage)
			if len(proof) != len(clientSig) {
				t.Fatalf("proof of %d bytes, signature of %d", len(proof), len(clientSig))
			}
			clientKey := make([]byte, len(proof))
			for i := range proof {
				clientKey[i] = proof[i] ^ clientSig[i]
			}
			sum := h()
			sum.Write(clientKey)
			if got := sum.Sum(nil); !bytes.Equal(got, k.StoredKey) {
				t.Errorf("RFC's ClientProof does not verify against StoredKey %x", k.StoredKey)
			}
		})
	}
}

func TestDeriveScramKeysCopiesSalt(t *testing.T) {
	salt := []byte("0123456789abcdef")
	k, err := DeriveScramKeys(ScramSHA256, "pw", salt, 1)
	if err != nil {
		t.Fatal(err)
	}
	salt[0] = 'X'
	if k.Salt[0] != '0' {
		t.Error("keys share the caller's salt slice")
	}
}

func TestDeriveScramKeysRefuses(t *testing.T) {
	if _, err := DeriveScramKeys("SCRAM-MD5", "pencil", []byte("salt"), 4096); err == nil {
		t.Error("unknown mechanism accepted")
	}
}

func TestVerify(t *testing.T) {
	k, err := DeriveScramKeys(ScramSHA256, "pencil", []byte("salt"), 64)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Verify("pencil") {
		t.Error("right password refused")
	}
	for _, pw := range []string{"", "Pencil", "pencil ", "pen"} {
		if k.Verify(pw) {
			t.Errorf("wrong password %q accepted", pw)
		}
	}
	k.Mechanism = "SCRAM-MD5"
	if k.Verify("pencil") {
		t.Error("keys of an unknown mechanism verified")
	}
}

func TestNewCredentials(t *testing.T) {
	if _, err := NewCredentials(""); err == nil {
		t.Error("empty password accepted")
	}
	pw := GeneratePassword()
	ks, err := NewCredentials(pw)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].Mechanism != ScramSHA1 || ks[1].Mechanism != ScramSHA256 {
		t.Fatalf("got %d keys: %+v", len(ks), ks)
	}
	if bytes.Equal(ks[0].Salt, ks[1].Salt) {
		t.Error("both mechanisms share one salt")
	}
	for _, k := range ks {
		if len(k.Salt) != 16 || k.Iterations != ScramIterations {
			t.Errorf("%s: salt of %d bytes, %d iterations", k.Mechanism, len(k.Salt), k.Iterations)
		}
		if !k.Verify(pw) || k.Verify(pw+"x") {
			t.Errorf("%s: Verify does not tell the password", k.Mechanism)
		}
	}
	again, err := NewCredentials(pw)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again[1].Salt, ks[1].Salt) {
		t.Error("the same password got the same salt twice")
	}
}

func TestGeneratePassword(t *testing.T) {
	a, b := GeneratePassword(), GeneratePassword()
	if len(a) != 26 || a == b {
		t.Errorf("GeneratePassword gave %q and %q", a, b)
	}
}
