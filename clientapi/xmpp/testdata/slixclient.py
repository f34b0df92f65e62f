#!/usr/bin/python3
"""A slixmpp client driven by JSON lines, for the Go tests of package xmpp.

Commands arrive on stdin, one JSON object a line; events leave on stdout,
one JSON object a line, flushed after each. Every event that answers a
command carries "cmd" (the command's name) and, when the command had one,
"tag" (echoed unchanged) so a test can tell answers apart. slixmpp's own
log (DEBUG: every stanza sent and received) goes to stderr.

Run it with /usr/bin/python3: Debian's python3-slixmpp is installed there
only. See slix_test.go for the protocol as the Go side uses it.
"""

import argparse
import asyncio
import base64
import json
import io
import logging
import ssl
import sys
import threading
import traceback
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.stanza import Iq
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = 'jabber:client'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
NS_DELAY = 'urn:xmpp:delay'
NS_SID = 'urn:xmpp:sid:0'
NS_REACTIONS = 'urn:xmpp:reactions:0'
NS_MAM = 'urn:xmpp:mam:2'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_DATA = 'jabber:x:data'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_PING = 'urn:xmpp:ping'
NS_MUC = 'http://jabber.org/protocol/muc'
FULLTEXT_VAR = '{urn:xmpp:fulltext:0}fulltext'

IQ_TIMEOUT = 30


def q(ns, tag):
    return '{%s}%s' % (ns, tag)


def emit(obj):
    """Write one event line; only ever called on the event loop's thread."""
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def text_of(el, ns, tag):
    if el is None:
        return None
    child = el.find(q(ns, tag))
    if child is None:
        return None
    return child.text or ''


def stanza_error(el):
    """(condition, text) of the <error/> child of a stanza element."""
    err = el.find(q(NS_CLIENT, 'error'))
    if err is None:
        return None, None
    condition, text = None, None
    for child in err:
        if child.tag == q(NS_STANZAS, 'text'):
            text = child.text
        elif child.tag.startswith('{%s}' % NS_STANZAS):
            condition = child.tag.split('}', 1)[1]
    return condition, text


def describe_message(m):
    """The fields of a <message/> element that the tests look at."""
    ev = {
        'from': m.get('from'),
        'to': m.get('to'),
        'type': m.get('type') or 'normal',
        'id': m.get('id'),
        'body': text_of(m, NS_CLIENT, 'body'),
        'subject': text_of(m, NS_CLIENT, 'subject'),
        'thread': text_of(m, NS_CLIENT, 'thread'),
        'stanza_id': None,
        'stanza_id_by': None,
        'origin_id': None,
        'delay': None,
    }
    sid = m.find(q(NS_SID, 'stanza-id'))
    if sid is not None:
        ev['stanza_id'] = sid.get('id')
        ev['stanza_id_by'] = sid.get('by')
    oid = m.find(q(NS_SID, 'origin-id'))
    if oid is not None:
        ev['origin_id'] = oid.get('id')
    delay = m.find(q(NS_DELAY, 'delay'))
    if delay is not None:
        ev['delay'] = delay.get('stamp')
    reactions = m.find(q(NS_REACTIONS, 'reactions'))
    if reactions is not None:
        ev['reactions_id'] = reactions.get('id')
        ev['reactions'] = [r.text or '' for r in reactions.findall(q(NS_REACTIONS, 'reaction'))]
    if ev['type'] == 'error':
        ev['error_condition'], ev['error_text'] = stanza_error(m)
    return ev


def parse_iq_xml(text):
    """Parse raw iq XML; an element without a namespace gets jabber:client."""
    wrapper = ET.fromstring("<w xmlns='%s'>%s</w>" % (NS_CLIENT, text))
    if len(wrapper) != 1:
        raise ValueError('want exactly one element, got %d' % len(wrapper))
    return wrapper[0]


class Client(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid if not args.resource
                         else '%s/%s' % (args.jid, args.resource),
                         args.password)
        self.args = args
        self.mam_queries = {}
        self.reconnect_after_drop = False
        self.exiting = False

        # Tests run against a self-signed certificate on loopback.
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE

        self.register_plugin('xep_0030')
        self.register_plugin('xep_0054')
        if args.sm:
            self.register_plugin('xep_0198', {'allow_resume': True})
        if args.csi:
            self.register_plugin('xep_0352')
        try:
            # HTTP File Upload; its HTTP side needs aiohttp (python3-aiohttp).
            self.register_plugin('xep_0363')
        except Exception as e:  # the upload command says why it cannot run
            self.upload_unavailable = repr(e)
        else:
            self.upload_unavailable = None

        self.register_handler(Callback(
            'harness messages', MatchXPath(q(NS_CLIENT, 'message')),
            self.on_message))
        self.register_handler(Callback(
            'harness presences', MatchXPath(q(NS_CLIENT, 'presence')),
            self.on_presence))

        self.add_event_handler('connected', lambda _: emit({'event': 'connected'}))
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('session_resumed', lambda _: emit({'event': 'resumed'}))
        self.add_event_handler('failed_auth', self.on_failed_auth)
        self.add_event_handler('failed_all_auth', self.on_failed_all_auth)
        self.add_event_handler('stream_error', self.on_stream_error)
        self.add_event_handler('sm_enabled', self.on_sm_enabled)
        self.add_event_handler('sm_failed', self.on_sm_failed)
        self.add_event_handler('csi_enabled', lambda _: emit({'event': 'csi_enabled'}))
        self.add_event_handler('connection_failed',
                               lambda e: emit({'event': 'connection_failed', 'text': str(e)}))

    # Loopback only: never look up DNS, always dial the given host and port,
    # and send the JID's domain as SNI.
    async def get_dns_records(self, domain, port=None):
        return [(self.boundjid.domain, self.args.host, self.args.port)]

    def start(self):
        direct = self.args.tls == 'direct'
        self.connect((self.args.host, self.args.port),
                     use_ssl=direct, force_starttls=not direct)
        self.default_domain = self.boundjid.domain

    # --- events ---

    async def on_session_start(self, _):
        if not self.args.no_presence:
            self.send_presence()
        emit({'event': 'session_start', 'jid': str(self.boundjid)})

    def on_disconnected(self, reason):
        emit({'event': 'disconnected', 'reason': str(reason) if reason else None})
        if self.exiting:
            return
        if self.reconnect_after_drop:
            self.reconnect_after_drop = False
            self.start()

    # slixmpp tries the next mechanism after a failure (a client without
    # tls-exporter fails SCRAM-*-PLUS, then succeeds with SCRAM): report
    # each failure, and give up only when every mechanism failed.
    def on_failed_auth(self, stanza):
        self.last_auth_failure = {'condition': stanza['condition'] or None,
                                  'text': stanza['text'] or None}
        emit({'event': 'auth_attempt_failed', **self.last_auth_failure})

    def on_failed_all_auth(self, _):
        emit({'event': 'auth_failed', **getattr(self, 'last_auth_failure', {})})
        self.exiting = True
        self.abort()
        self.loop.call_soon(self.loop.stop)

    def on_stream_error(self, error):
        emit({'event': 'stream_error', 'condition': error['condition'] or None,
              'text': error['text'] or None})

    def on_sm_enabled(self, stanza):
        emit({'event': 'sm_enabled', 'id': stanza['id'] or None,
              'resume': stanza.xml.get('resume') in ('true', '1')})

    def on_sm_failed(self, stanza):
        cond = None
        for child in stanza.xml:
            if child.tag.startswith('{%s}' % NS_STANZAS):
                cond = child.tag.split('}', 1)[1]
        emit({'event': 'sm_failed', 'condition': cond})

    def on_message(self, msg):
        m = msg.xml
        result = m.find(q(NS_MAM, 'result'))
        if result is not None:
            self.on_mam_result(m, result)
            return
        for kind in ('sent', 'received'):
            wrap = m.find(q(NS_CARBONS, kind))
            if wrap is None:
                continue
            inner = wrap.find('%s/%s' % (q(NS_FORWARD, 'forwarded'), q(NS_CLIENT, 'message')))
            if inner is None:
                continue
            ev = {'event': 'message'}
            ev.update(describe_message(inner))
            ev['carbon'] = kind
            ev['carbon_from'] = m.get('from')
            ev['xml'] = ET.tostring(m, encoding='unicode')
            emit(ev)
            return
        ev = {'event': 'message'}
        ev.update(describe_message(m))
        ev['carbon'] = None
        ev['xml'] = ET.tostring(m, encoding='unicode')
        emit(ev)

    def on_mam_result(self, m, result):
        fwd = result.find(q(NS_FORWARD, 'forwarded'))
        inner = fwd.find(q(NS_CLIENT, 'message')) if fwd is not None else None
        item = describe_message(inner) if inner is not None else {}
        item['archive_id'] = result.get('id')
        item['stamp'] = None
        if fwd is not None:
            delay = fwd.find(q(NS_DELAY, 'delay'))
            if delay is not None:
                item['stamp'] = delay.get('stamp')
        item['result_from'] = m.get('from')
        collected = self.mam_queries.get(result.get('queryid'))
        if collected is None:
            item['event'] = 'mam_message'
            item['queryid'] = result.get('queryid')
            emit(item)
        else:
            collected.append(item)

    def on_presence(self, pres):
        p = pres.xml
        ev = {
            'event': 'presence',
            'from': p.get('from'),
            'to': p.get('to'),
            'type': p.get('type') or 'available',
            'show': text_of(p, NS_CLIENT, 'show'),
            'status': text_of(p, NS_CLIENT, 'status'),
            'priority': text_of(p, NS_CLIENT, 'priority'),
            'xml': ET.tostring(p, encoding='unicode'),
        }
        if ev['type'] == 'error':
            ev['error_condition'], ev['error_text'] = stanza_error(p)
        emit(ev)

    # --- commands ---

    async def send_iq(self, el, cmd, extra=None):
        """Send an iq element and report its answer as iq_result/iq_error."""
        iq = Iq(self, xml=el)
        if not iq['id']:
            iq['id'] = self.new_id()
        ev = {'cmd': cmd.get('cmd'), 'id': iq['id']}
        if 'tag' in cmd:
            ev['tag'] = cmd['tag']
        try:
            reply = await iq.send(timeout=IQ_TIMEOUT)
        except IqError as e:
            ev['event'] = 'iq_error'
            ev['condition'], ev['text'] = stanza_error(e.iq.xml)
            ev['xml'] = ET.tostring(e.iq.xml, encoding='unicode')
            emit(ev)
            return None
        except IqTimeout:
            ev['event'] = 'iq_error'
            ev['condition'] = 'timeout'
            emit(ev)
            return None
        if extra is None:
            ev['event'] = 'iq_result'
            ev['xml'] = ET.tostring(reply.xml, encoding='unicode')
            emit(ev)
        return reply

    async def run_command(self, cmd):
        name = cmd.get('cmd')
        handler = getattr(self, 'cmd_' + str(name), None)
        if handler is None:
            raise ValueError('unknown command %r' % name)
        res = handler(cmd)
        if asyncio.iscoroutine(res):
            await res

    def cmd_send(self, cmd):
        msg = self.make_message(mto=cmd['to'], mbody=cmd.get('body'),
                                mtype=cmd.get('type', 'chat'))
        if cmd.get('id'):
            msg['id'] = cmd['id']
        if cmd.get('thread'):
            msg['thread'] = cmd['thread']
        msg.send()

    async def cmd_roster(self, cmd):
        el = ET.Element(q(NS_CLIENT, 'iq'), {'type': 'get'})
        ET.SubElement(el, q('jabber:iq:roster', 'query'))
        reply = await self.send_iq(el, cmd, extra=True)
        if reply is None:
            return
        items = []
        query = reply.xml.find(q('jabber:iq:roster', 'query'))
        for item in (query if query is not None else []):
            items.append({
                'jid': item.get('jid'),
                'name': item.get('name'),
                'subscription': item.get('subscription') or 'none',
                'ask': item.get('ask'),
                'groups': [g.text or '' for g in item.findall(q('jabber:iq:roster', 'group'))],
            })
        ev = {'event': 'roster', 'cmd': 'roster', 'items': items,
              'ver': query.get('ver') if query is not None else None}
        if 'tag' in cmd:
            ev['tag'] = cmd['tag']
        emit(ev)

    async def cmd_mam(self, cmd):
        queryid = self.new_id()
        el = ET.Element(q(NS_CLIENT, 'iq'), {'type': 'set'})
        if cmd.get('to'):
            el.set('to', cmd['to'])
        query = ET.SubElement(el, q(NS_MAM, 'query'), {'queryid': queryid})
        form = ET.SubElement(query, q(NS_DATA, 'x'), {'type': 'submit'})
        field = ET.SubElement(form, q(NS_DATA, 'field'), {'var': 'FORM_TYPE', 'type': 'hidden'})
        ET.SubElement(field, q(NS_DATA, 'value')).text = NS_MAM
        for key, var in (('with', 'with'), ('start', 'start'), ('end', 'end'),
                         ('fulltext', FULLTEXT_VAR)):
            if cmd.get(key):
                field = ET.SubElement(form, q(NS_DATA, 'field'), {'var': var})
                ET.SubElement(field, q(NS_DATA, 'value')).text = str(cmd[key])
        if any(k in cmd for k in ('max', 'before', 'after')):
            rsm = ET.SubElement(query, q(NS_RSM, 'set'))
            if cmd.get('max') is not None:
                ET.SubElement(rsm, q(NS_RSM, 'max')).text = str(int(cmd['max']))
            # "before": "" asks for the last page (an empty <before/>).
            if cmd.get('before') is not None:
                ET.SubElement(rsm, q(NS_RSM, 'before')).text = str(cmd['before']) or None
            if cmd.get('after') is not None:
                ET.SubElement(rsm, q(NS_RSM, 'after')).text = str(cmd['after'])
        if cmd.get('flip'):
            ET.SubElement(query, q(NS_MAM, 'flip-page'))
        self.mam_queries[queryid] = []
        try:
            reply = await self.send_iq(el, cmd, extra=True)
        finally:
            messages = self.mam_queries.pop(queryid)
        if reply is None:
            return
        ev = {'event': 'mam_result', 'cmd': 'mam', 'queryid': queryid,
              'messages': messages, 'first': None, 'first_index': None,
              'last': None, 'count': None, 'complete': False}
        fin = reply.xml.find(q(NS_MAM, 'fin'))
        if fin is not None:
            ev['complete'] = fin.get('complete') in ('true', '1')
            rsm = fin.find(q(NS_RSM, 'set'))
            if rsm is not None:
                first = rsm.find(q(NS_RSM, 'first'))
                if first is not None:
                    ev['first'] = first.text
                    if first.get('index') is not None:
                        ev['first_index'] = int(first.get('index'))
                ev['last'] = text_of(rsm, NS_RSM, 'last')
                count = text_of(rsm, NS_RSM, 'count')
                if count is not None:
                    ev['count'] = int(count)
        if 'tag' in cmd:
            ev['tag'] = cmd['tag']
        emit(ev)

    async def cmd_carbons_enable(self, cmd):
        el = ET.Element(q(NS_CLIENT, 'iq'), {'type': 'set'})
        ET.SubElement(el, q(NS_CARBONS, 'enable'))
        await self.send_iq(el, cmd)

    async def cmd_carbons_disable(self, cmd):
        el = ET.Element(q(NS_CLIENT, 'iq'), {'type': 'set'})
        ET.SubElement(el, q(NS_CARBONS, 'disable'))
        await self.send_iq(el, cmd)

    def cmd_presence(self, cmd):
        kwargs = {}
        if cmd.get('show'):
            kwargs['pshow'] = cmd['show']
        if cmd.get('status'):
            kwargs['pstatus'] = cmd['status']
        if cmd.get('type'):
            kwargs['ptype'] = cmd['type']
        if cmd.get('to'):
            kwargs['pto'] = cmd['to']
        if cmd.get('priority') is not None:
            kwargs['ppriority'] = int(cmd['priority'])
        self.send_presence(**kwargs)

    def cmd_join(self, cmd):
        pres = self.make_presence(pto='%s/%s' % (cmd['room'], cmd['nick']))
        x = ET.SubElement(pres.xml, q(NS_MUC, 'x'))
        if cmd.get('history') is not None:
            ET.SubElement(x, q(NS_MUC, 'history'), {'maxstanzas': str(int(cmd['history']))})
        pres.send()

    async def cmd_iq(self, cmd):
        await self.send_iq(parse_iq_xml(cmd['xml']), cmd)

    async def cmd_ping(self, cmd):
        el = ET.Element(q(NS_CLIENT, 'iq'), {'type': 'get'})
        if cmd.get('to'):
            el.set('to', cmd['to'])
        ET.SubElement(el, q(NS_PING, 'ping'))
        await self.send_iq(el, cmd)

    def cmd_csi(self, cmd):
        if cmd.get('state') == 'inactive':
            self['xep_0352'].send_inactive()
        else:
            self['xep_0352'].send_active()

    async def cmd_upload(self, cmd):
        """Upload bytes with slixmpp's own XEP-0363 client: discovery, slot
        request and PUT; report the address to share."""
        ev = {'cmd': 'upload'}
        if 'tag' in cmd:
            ev['tag'] = cmd['tag']
        if self.upload_unavailable:
            ev.update(event='upload_error', error='xep_0363 unavailable: ' + self.upload_unavailable)
            emit(ev)
            return
        data = cmd['data'].encode('utf-8')
        try:
            # The plugin's own discovery (get_info_from_domain) hands
            # coroutines to asyncio.wait, which Python 3.11 refuses; the
            # same steps here: disco#info on the domain, the store/file
            # identity, the feature, the size limit from the form.
            up = self['xep_0363']
            if up.upload_service is None:
                domain = self.boundjid.domain
                info = (await self['xep_0030'].get_info(jid=domain, timeout=IQ_TIMEOUT))['disco_info']
                if ('store', 'file') not in [(i[0], i[1]) for i in info['identities']] or \
                        'urn:xmpp:http:upload:0' not in info['features']:
                    raise RuntimeError('the domain offers no upload service: %s' % info)
                for form in info.iterables:
                    values = form['values']
                    if values.get('FORM_TYPE') == ['urn:xmpp:http:upload:0']:
                        up.max_file_size = int(values['max-file-size'])
                up.upload_service = domain
                ev['max_file_size'] = up.max_file_size
            url = await up.upload_file(
                cmd['filename'], size=len(data), content_type=cmd.get('content_type'),
                input_file=io.BytesIO(data), timeout=IQ_TIMEOUT)
        except Exception as e:
            ev.update(event='upload_error', error=repr(e))
        else:
            ev.update(event='uploaded', url=url)
        emit(ev)

    async def cmd_vcard_set(self, cmd):
        """Publish the account's vCard with slixmpp's XEP-0054 plugin: a
        name, a nickname and a PNG photo given in base64."""
        vcard = self['xep_0054'].make_vcard()
        vcard['FN'] = cmd['fn']
        vcard['NICKNAME'] = cmd['nickname']
        vcard['PHOTO']['TYPE'] = 'image/png'
        vcard['PHOTO']['BINVAL'] = base64.b64decode(cmd['photo'])
        ev = {'cmd': 'vcard_set'}
        try:
            await self['xep_0054'].publish_vcard(vcard, timeout=IQ_TIMEOUT)
        except IqError as e:
            ev['event'] = 'iq_error'
            ev['condition'], ev['text'] = stanza_error(e.iq.xml)
        else:
            ev['event'] = 'vcard_set'
        emit(ev)

    async def cmd_vcard_get(self, cmd):
        """Fetch a vCard from the server (never the plugin's cache) and
        report its name, nickname and photo."""
        ev = {'cmd': 'vcard_get'}
        try:
            iq = await self['xep_0054'].get_vcard(JID(cmd['jid']), local=False, cached=False, timeout=IQ_TIMEOUT)
        except IqError as e:
            ev['event'] = 'iq_error'
            ev['condition'], ev['text'] = stanza_error(e.iq.xml)
            emit(ev)
            return
        v = iq.xml.find('{vcard-temp}vCard')
        photo = v.find('{vcard-temp}PHOTO') if v is not None else None
        ev.update(event='vcard',
                  fn=text_of(v, 'vcard-temp', 'FN'),
                  nickname=text_of(v, 'vcard-temp', 'NICKNAME'),
                  photo_type=text_of(photo, 'vcard-temp', 'TYPE'),
                  photo=text_of(photo, 'vcard-temp', 'BINVAL'))
        emit(ev)

    def cmd_raw(self, cmd):
        self.send_raw(cmd['xml'])

    def cmd_drop(self, cmd):
        # No </stream:stream>, no TLS close_notify: the server sees the TCP
        # connection die, as when a phone loses its network.
        self.reconnect_after_drop = bool(self.args.sm)
        if self.transport is not None:
            self.transport.abort()

    async def cmd_quit(self, cmd):
        self.exiting = True
        if self.transport is not None:
            await self.disconnect(wait=2.0)
        self.loop.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--jid', required=True)
    ap.add_argument('--password', required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--tls', choices=('direct', 'starttls'), default='starttls')
    ap.add_argument('--resource', default='')
    ap.add_argument('--sm', action='store_true')
    ap.add_argument('--csi', action='store_true')
    ap.add_argument('--no-presence', action='store_true')
    args = ap.parse_args()

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = Client(args)
    client.loop = loop

    async def dispatch(line):
        cmd = None
        try:
            cmd = json.loads(line)
            await client.run_command(cmd)
        except Exception as e:  # reported, never fatal
            ev = {'event': 'error', 'text': '%s: %s' % (type(e).__name__, e)}
            if isinstance(cmd, dict):
                ev['cmd'] = cmd.get('cmd')
                if 'tag' in cmd:
                    ev['tag'] = cmd['tag']
            traceback.print_exc(file=sys.stderr)
            emit(ev)

    # Commands keep their order: each line is handed to the loop in turn and
    # starts running before the next one is read.
    def read_stdin():
        for line in sys.stdin:
            line = line.strip()
            if line:
                loop.call_soon_threadsafe(
                    lambda l=line: loop.create_task(dispatch(l)))
        loop.call_soon_threadsafe(lambda: loop.create_task(dispatch('{"cmd":"quit"}')))

    threading.Thread(target=read_stdin, daemon=True).start()
    client.start()
    loop.run_forever()
    emit({'event': 'exit'})


if __name__ == '__main__':
    main()
