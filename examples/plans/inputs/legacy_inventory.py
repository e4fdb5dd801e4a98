# ruff: noqa  (intentionally messy input for the refactor_legacy example plan)
# legacy inventory module -- written in a hurry, do not touch (ha)
import json, os, sys

ITEMS = {}
LOG = []
TAX=0.2

def add_item(name, qty, price, tags=[]):
    global ITEMS
    if name in ITEMS.keys():
        ITEMS[name]['qty'] = ITEMS[name]['qty'] + qty
        ITEMS[name]['price'] = price
        for t in tags:
            if not t in ITEMS[name]['tags']:
                ITEMS[name]['tags'].append(t)
    else:
        tags.append('new')
        ITEMS[name] = {'qty': qty, 'price': price, 'tags': tags}
    LOG.append('add ' + name + ' ' + str(qty))
    return True

def remove_item(name, qty):
    global ITEMS
    try:
        if ITEMS[name]['qty'] < qty:
            print('not enough ' + name)
            return False
        ITEMS[name]['qty'] = ITEMS[name]['qty'] - qty
        if ITEMS[name]['qty'] == 0:
            del ITEMS[name]
        LOG.append('remove ' + name + ' ' + str(qty))
        return True
    except:
        return False

def total_value(with_tax):
    t = 0
    for k in ITEMS.keys():
        t = t + ITEMS[k]['qty'] * ITEMS[k]['price']
    if with_tax == True:
        t = t + t * TAX
    return round(t, 2)

def low_stock(limit=5):
    res = []
    for k in ITEMS.keys():
        if ITEMS[k]['qty'] <= limit:
            res.append(k)
    res.sort()
    return res

def save(path):
    f = open(path, 'w')
    f.write(json.dumps({'items': ITEMS, 'log': LOG}))
    f.close()

def load(path):
    global ITEMS, LOG
    if os.path.exists(path) == False:
        print('no file'); sys.exit(1)
    f = open(path)
    d = json.loads(f.read())
    ITEMS = d['items']; LOG = d['log']
