#!/usr/bin/python3
"""Runs Switchboard's administration from slixmpp, the way a client's
commands menu and bookmark store do, and prints one JSON object a line:

  {"step": "commands", "nodes": [...]}                 XEP-0050 list (disco#items)
  {"step": "list", "status": S, "items": [{...}]}      list-networks, executed
  {"step": "status_bad", "status": S, "note": T}       set-status with a bad field
  {"step": "status_ok", "status": S, "note": T}        set-status completed
  {"step": "cancel", "status": S}                      add-network canceled
  {"step": "publish", "id": ID}                        XEP-0402 bookmark via XEP-0060 with publish-options
  {"step": "items", "items": [{"id", "name", "autojoin", "nick"}]}
  {"step": "error", "text": T}                         anything that went wrong
  {"step": "done"}

Used by slixadmin_test.go; run under /usr/bin/python3 (Debian's slixmpp).
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp

NS_BOOKMARKS = 'urn:xmpp:bookmarks:1'


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


class Admin(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid + '/slixadmin', args.password)
        self.args = args
        self.ssl_context = ssl.create_default_context()
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in ('xep_0004', 'xep_0030', 'xep_0050', 'xep_0060'):
            self.register_plugin(p)
        self.add_event_handler('session_start', self.run)

    async def get_dns_records(self, domain, port=None):
        return [(self.boundjid.domain, self.args.host, self.args.port)]

    def form(self, values):
        f = self['xep_0004'].make_form(ftype='submit')
        for var, value in values.items():
            f.add_field(var=var, value=value)
        return f

    @staticmethod
    def notes(iq):
        return [text for (typ, text) in iq['command']['notes'] if typ == 'error']

    async def run(self, _):
        try:
            await self.steps()
        except Exception as e:  # reported to the test, which fails on it
            emit({'step': 'error', 'text': '%s: %s' % (type(e).__name__, e)})
        emit({'step': 'done'})
        self.disconnect()

    async def steps(self):
        server = self.boundjid.domain
        self.send_presence()
        items = await self['xep_0050'].get_commands(jid=server)
        emit({'step': 'commands', 'nodes': [i[1] for i in items['disco_items']['items']]})

        res = await self['xep_0050'].send_command(server, 'switchboard:list-networks')
        form = res['command']['form']
        emit({'step': 'list', 'status': res['command']['status'],
              'items': [dict((k, v) for k, v in item.items()) for item in form['items']]})

        res = await self['xep_0050'].send_command(server, 'switchboard:set-status')
        sid = res['command']['sessionid']
        res = await self['xep_0050'].send_command(server, 'switchboard:set-status', action='complete',
                                                  sessionid=sid, payload=self.form({'show': 'asleep'}))
        emit({'step': 'status_bad', 'status': res['command']['status'], 'note': ' '.join(self.notes(res))})
        res = await self['xep_0050'].send_command(server, 'switchboard:set-status', action='complete',
                                                  sessionid=sid, payload=self.form({'show': 'away', 'text': 'lunch'}))
        emit({'step': 'status_ok', 'status': res['command']['status'],
              'note': ' '.join(text for (_, text) in res['command']['notes'])})

        res = await self['xep_0050'].send_command(server, 'switchboard:add-network')
        res = await self['xep_0050'].send_command(server, 'switchboard:add-network', action='cancel',
                                                  sessionid=res['command']['sessionid'])
        emit({'step': 'cancel', 'status': res['command']['status']})

        conf = ET.Element('{%s}conference' % NS_BOOKMARKS, {'name': 'Go', 'autojoin': 'true'})
        ET.SubElement(conf, '{%s}nick' % NS_BOOKMARKS).text = 'alice'
        opts = self['xep_0004'].make_form(ftype='submit')
        opts.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/pubsub#publish-options')
        opts.add_field(var='pubsub#persist_items', value='true')
        opts.add_field(var='pubsub#max_items', value='max')
        opts.add_field(var='pubsub#access_model', value='whitelist')
        room = self.args.room
        res = await self['xep_0060'].publish(self.boundjid.bare, NS_BOOKMARKS, id=room, payload=conf, options=opts)
        emit({'step': 'publish', 'id': res['pubsub']['publish']['item']['id']})

        res = await self['xep_0060'].get_items(self.boundjid.bare, NS_BOOKMARKS)
        out = []
        for item in res['pubsub']['items']['substanzas']:
            c = item.xml.find('{%s}conference' % NS_BOOKMARKS)
            nick = c.find('{%s}nick' % NS_BOOKMARKS) if c is not None else None
            out.append({'id': item['id'], 'name': c.get('name') if c is not None else None,
                        'autojoin': c.get('autojoin') if c is not None else None,
                        'nick': nick.text if nick is not None else None})
        emit({'step': 'items', 'items': out})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--jid', required=True)
    ap.add_argument('--password', required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--room', required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    xmpp = Admin(args)
    xmpp.connect((args.host, args.port), force_starttls=True)
    xmpp.add_event_handler('disconnected', lambda _: xmpp.loop.stop())
    xmpp.add_event_handler('failed_all_auth', lambda _: (emit({'step': 'error', 'text': 'auth failed'}), xmpp.loop.stop()))
    xmpp.loop.call_later(60, xmpp.loop.stop)
    xmpp.loop.run_forever()


if __name__ == '__main__':
    main()
