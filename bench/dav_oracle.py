#!/usr/bin/python3
"""What other tools read in calendar and contact files: for each file named, one JSON line with
the items Python's icalendar (what Xandikos parses with) and vobject (what Radicale parses
with) extract. Calendar items are distinct UIDs of VEVENT/VTODO/VJOURNAL (a component without
UID counts once per distinct text); contacts are VCARDs (vobject only). A tool that refuses the file gives null.
A third figure, "scan", reads the lines only (no parser: distinct UIDs in VEVENT/VTODO/VJOURNAL
blocks, or BEGIN:VCARD lines), for files both libraries refuse.
Used by passeur-dav-bench; needs Debian's python3-icalendar and python3-vobject."""
import sys, os, json
import icalendar, vobject
def ical_count(data):
    try:
        cals = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as e:
        return None
    uids=set(); n=0
    for cal in cals:
        for c in cal.walk():
            if c.name in ('VEVENT','VTODO','VJOURNAL'):
                u=c.get('UID')
                if isinstance(u, list): u = u[0]  # a component with two UID lines
                if u is None: uids.add(c.to_ical())
                else: uids.add((str(u)))
    return len(uids)
def vobj_ics(data):
    uids=set(); n=0
    try:
        for cal in vobject.readComponents(data.decode('utf-8','replace'), ignoreUnreadable=True):
            for c in cal.getChildren():
                if c.name in ('VEVENT','VTODO','VJOURNAL'):
                    u=getattr(c,'uid',None)
                    if u is None: uids.add(c.serialize())
                    else: uids.add(str(u.value))
    except Exception as e:
        return None
    return len(uids)
def vobj_vcf(data):
    n=0
    try:
        for c in vobject.readComponents(data.decode('utf-8','replace'), ignoreUnreadable=True):
            if c.name=='VCARD': n+=1
    except Exception:
        return None
    return n
def scan(data, vcard):
    """Distinct UIDs of items by their lines alone (unfolded, case-insensitive)."""
    text = data.decode('utf-8', 'replace').replace('\r\n', '\n').replace('\n ', '').replace('\n\t', '')
    if vcard:
        return sum(1 for l in text.split('\n') if l.strip().upper() == 'BEGIN:VCARD')
    uids = set(); inside = None; uid = None; depth = 0; body = []
    for l in text.split('\n'):
        u = l.strip().upper()
        if inside is not None:
            body.append(l)
        if u in ('BEGIN:VEVENT', 'BEGIN:VTODO', 'BEGIN:VJOURNAL') and inside is None:
            inside = u; uid = None; depth = 0; body = [l]
        elif inside is not None and u.startswith('BEGIN:'):
            depth += 1
        elif inside is not None and u.startswith('END:'):
            if depth == 0:
                # A component without UID counts once per distinct text.
                uids.add(uid if uid is not None else '\n'.join(body))
                inside = None
            else:
                depth -= 1
        elif inside is not None and depth == 0 and u.startswith('UID') and ':' in l:
            name = l.split(':', 1)[0].split(';')[0].strip().upper()
            if name == 'UID':
                uid = l.split(':', 1)[1].strip()
    return len(uids)

for p in sys.argv[1:]:
    data=open(p,'rb').read()
    if p.endswith('.vcf') or '/vcf/' in p:
        print(json.dumps({'file':os.path.basename(p),'vobject':vobj_vcf(data),'scan':scan(data, True)}))
    else:
        print(json.dumps({'file':os.path.basename(p),'icalendar':ical_count(data),'vobject':vobj_ics(data),'scan':scan(data, False)}))
