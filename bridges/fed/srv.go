package fed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// SRVResolver looks up DNS SRV records; net.Resolver is one.
type SRVResolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// srvService and srvProto name the SRV record consulted before
// https://DOMAIN: _switchboard._tcp.DOMAIN (docs/federation.md, section 2).
const (
	srvService = "switchboard"
	srvProto   = "tcp"
)

// lookupSRV returns the base URL of a discovered peer's document:
// https://DOMAIN:PORT when _switchboard._tcp.DOMAIN names a host and port,
// dialled at that host (srvDial) but still verified as DOMAIN, since an
// SRV answer is not authenticated; https://DOMAIN without a record.
func (p *peer) lookupSRV(ctx context.Context) (string, error) {
	addr, target := "", ""
	_, srvs, err := p.svc.resolver.LookupSRV(ctx, srvService, srvProto, p.domain)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(srvs) > 0:
		// The resolver orders the records by priority and weight.
		host := strings.TrimSuffix(srvs[0].Target, ".")
		if host == "" {
			// RFC 2782: "." says the service is decidedly not available.
			return "", fmt.Errorf("discovery of %s: its SRV record says it does not federate", p.domain)
		}
		port := strconv.Itoa(int(srvs[0].Port))
		addr, target = net.JoinHostPort(p.domain, port), net.JoinHostPort(host, port)
	case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
	default:
		p.svc.log.Info("looking up a peer's SRV record; trying its domain", "peer", p.domain, "err", err)
	}
	p.mu.Lock()
	p.srvAddr, p.srvTarget = addr, target
	p.mu.Unlock()
	if addr == "" {
		return "https://" + p.domain, nil
	}
	return "https://" + addr, nil
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// srvDial dials through d, going to the SRV target for the address the
// record was found for.
func (p *peer) srvDial(d *net.Dialer) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		p.mu.Lock()
		if addr == p.srvAddr && p.srvAddr != "" {
			addr = p.srvTarget
		}
		p.mu.Unlock()
		return d.DialContext(ctx, network, addr)
	}
}
