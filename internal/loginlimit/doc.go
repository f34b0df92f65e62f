// Package loginlimit limits password guessing for every port that takes a
// password (the XMPP port's SASL, the HTTP API's token login): per account
// and per address. It imports the standard library only.
package loginlimit
