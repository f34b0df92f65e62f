//go:build !linux

package xmpp

func setQuickAck(fd uintptr) {}
