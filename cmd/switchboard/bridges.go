package main

import (
	"github.com/switchboard/switchboard/bridges/fed"
	"github.com/switchboard/switchboard/bridges/irc"
	"github.com/switchboard/switchboard/bridges/xmpp"
	"github.com/switchboard/switchboard/core"
)

// bridgeRegistry lists the network kinds this build can connect. Each
// bridge package adds one line here. fedSvc is nil outside the daemon.
func bridgeRegistry(fedSvc *fed.Service) *core.Registry {
	r := &core.Registry{}
	r.Register(fed.Kind(fedSvc))
	r.Register(irc.Kind())
	r.Register(xmpp.Kind())
	return r
}
