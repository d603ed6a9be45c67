package messaging

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"strings"
	"testing"
)

// scramServer computes, by RFC 5802 section 3, what a server that knows
// password expects: the client's proof and the server's signature for an
// exchange of the three messages given (client-first-bare, server-first,
// client-final-without-proof).
func scramServer(t *testing.T, h func() hash.Hash, password, salt string, iterations int, clientFirstBare, serverFirst, clientFinalBare string) (proof, signature string) {
	t.Helper()
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(h, password, rawSalt, iterations, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	authMessage := clientFirstBare + "," + serverFirst + "," + clientFinalBare
	clientSig := mac(stored.Sum(nil), authMessage)
	for i := range clientKey {
		clientKey[i] ^= clientSig[i]
	}
	return base64.StdEncoding.EncodeToString(clientKey), base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMessage))
}

// The server side of the test is right: it reproduces RFC 7677's example.
func TestSCRAMServerMatchesRFC7677(t *testing.T) {
	proof, sig := scramServer(t, sha256.New, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096,
		"n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
	if proof != "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" || sig != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("proof %s, signature %s: not RFC 7677's", proof, sig)
	}
}

// The client sarama gets for each SCRAM mechanism proves the password as
// RFC 5802 says, and refuses a server that cannot prove it knows it.
func TestSCRAMClient(t *testing.T) {
	tests := []struct {
		mechanism string
		hash      func() hash.Hash
	}{
		{SASLMechanismSCRAMSHA256, sha256.New},
		{SASLMechanismSCRAMSHA512, sha512.New},
	}
	const salt, iterations = "QSXCR+Q6sek8bf92", 4096
	for _, tt := range tests {
		for _, honest := range []bool{true, false} {
			c := scramGenerator(tt.mechanism)()
			if err := c.Begin("relay", "pa,ss=word", ""); err != nil {
				t.Fatal(err)
			}
			first, err := c.Step("")
			if err != nil {
				t.Fatal(err)
			}
			bare, ok := strings.CutPrefix(first, "n,,")
			if !ok || !strings.HasPrefix(bare, "n=relay,r=") {
				t.Fatalf("%s: client-first %q", tt.mechanism, first)
			}
			serverFirst := "r=" + strings.TrimPrefix(bare, "n=relay,r=") + "srv-nonce,s=" + salt + ",i=4096"
			final, err := c.Step(serverFirst)
			if err != nil {
				t.Fatal(err)
			}
			finalBare, gotProof, ok := strings.Cut(final, ",p=")
			if !ok {
				t.Fatalf("%s: client-final %q has no proof", tt.mechanism, final)
			}
			proof, sig := scramServer(t, tt.hash, "pa,ss=word", salt, iterations, bare, serverFirst, finalBare)
			if gotProof != proof {
				t.Fatalf("%s: proof %s, want %s", tt.mechanism, gotProof, proof)
			}
			if !honest {
				sig = base64.StdEncoding.EncodeToString(make([]byte, tt.hash().Size()))
			}
			_, err = c.Step("v=" + sig)
			if honest && (err != nil || !c.Done()) {
				t.Errorf("%s: the server's signature was refused: %v", tt.mechanism, err)
			}
			if !honest && err == nil {
				t.Errorf("%s: a wrong server signature was accepted", tt.mechanism)
			}
		}
	}
}
