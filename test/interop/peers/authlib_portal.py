"""A portal written with Python authlib's Flask OAuth client, as a confidential
web client of the MBS identity broker (the relying party of
test/interop/authlib.test.ts).

Everything OpenID Connect is authlib's: server metadata from discovery,
authorization code with PKCE S256, client_secret_basic, the ID token's
signature (JWKS), issuer, audience and nonce checked by authorize_access_token,
userinfo, and the refresh of an expired access token before a request
(update_token). The one thing authlib leaves to the application is
RP-initiated logout: the end_session_endpoint from the same metadata.

Configured by environment: ISSUER, CLIENT_ID, CLIENT_SECRET, PORT,
PORTAL_NAME. Tokens stay in this process's memory, keyed by a random id in
the (signed) session cookie.
"""
import hashlib
import html
import os
import secrets
import threading
import time
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, request, session, url_for

ISSUER = os.environ['ISSUER']
PORT = int(os.environ['PORT'])
NAME = os.environ.get('PORTAL_NAME', 'Portal')
ORIGIN = f'http://127.0.0.1:{PORT}'

app = Flask(__name__)
app.secret_key = secrets.token_bytes(32)
# Several portals on one host: cookies ignore ports, so each needs its own name.
app.config['SESSION_COOKIE_NAME'] = 'authlib_portal_' + NAME.lower()
app.config['SESSION_COOKIE_SAMESITE'] = 'Lax'

lock = threading.Lock()
tokens = {}  # session key -> token dict
refreshes = {'count': 0}


def update_token(name, token, refresh_token=None, access_token=None):
    """authlib calls this (with the client's name) after it refreshed an expired access token."""
    with lock:
        refreshes['count'] += 1
        for key, stored in tokens.items():
            if refresh_token and stored.get('refresh_token') == refresh_token:
                stored.update(token)
                stored.setdefault('refresh_token', refresh_token)
                tokens[key] = stored


oauth = OAuth(app, update_token=update_token)
oauth.register(
    'broker',
    client_id=os.environ['CLIENT_ID'],
    client_secret=os.environ['CLIENT_SECRET'],
    server_metadata_url=f'{ISSUER}/.well-known/openid-configuration',
    client_kwargs={
        'scope': 'openid email profile mbs_profiles offline_access',
        'code_challenge_method': 'S256',
        'token_endpoint_auth_method': 'client_secret_basic',
    },
)


def page(body):
    return f'<!doctype html><html lang="en"><title>{html.escape(NAME)}</title><main>{body}</main></html>'


def current_token():
    key = session.get('key')
    with lock:
        return tokens.get(key) if key else None


@app.get('/')
def home():
    token = current_token()
    if not token:
        return page(f'<h1>Welcome to {html.escape(NAME)}</h1><a id="sign-in" href="/login">Sign in</a>')
    # authlib refreshes the access token first when it has expired.
    userinfo = oauth.broker.userinfo(token=token)
    token = current_token()
    id_token = token.get('userinfo', {})
    rows = ''.join(
        f'<dt>{html.escape(name)}</dt><dd id="claim-{html.escape(name)}">'
        f'{html.escape(",".join(map(str, value)) if isinstance(value, list) and all(isinstance(v, str) for v in value) else str(value))}</dd>'
        for name, value in userinfo.items()
    )
    digest = hashlib.sha256(token['access_token'].encode()).hexdigest()[:16]
    return page(
        f'<h1>{html.escape(NAME)}: signed in</h1>'
        f'<p id="id-token-sub">{html.escape(str(id_token.get("sub", "")))}</p>'
        f'<p id="id-token-iss">{html.escape(str(id_token.get("iss", "")))}</p>'
        f'<p id="access-token">{digest}</p>'
        f'<p id="expires-at">{int(token.get("expires_at", 0))}</p>'
        f'<p id="refreshes">{refreshes["count"]}</p>'
        f'<dl id="claims">{rows}</dl>'
        f'<a id="sign-out" href="/logout">Sign out</a>'
    )


@app.get('/login')
def login():
    # prompt=consent: the broker grants offline_access (a refresh token) only with it.
    return oauth.broker.authorize_redirect(f'{ORIGIN}/callback', prompt='consent')


@app.get('/callback')
def callback():
    # Exchanges the code (with the PKCE verifier) and validates the ID token
    # against the broker's JWKS, issuer, client id and the nonce.
    token = oauth.broker.authorize_access_token()
    key = secrets.token_urlsafe(16)
    with lock:
        tokens[key] = dict(token)
    session['key'] = key
    return redirect(url_for('home'))


@app.get('/logout')
def logout():
    token = current_token() or {}
    with lock:
        tokens.pop(session.pop('key', None), None)
    metadata = oauth.broker.load_server_metadata()
    query = urlencode({'id_token_hint': token.get('id_token', ''), 'post_logout_redirect_uri': f'{ORIGIN}/signed-out', 'client_id': oauth.broker.client_id})
    return redirect(f'{metadata["end_session_endpoint"]}?{query}')


@app.get('/signed-out')
def signed_out():
    return page(f'<h1>Signed out of {html.escape(NAME)}</h1><a id="sign-in" href="/login">Sign in</a>')


@app.get('/healthz')
def healthz():
    return {'ok': True, 'time': time.time()}


if __name__ == '__main__':
    app.run(host='127.0.0.1', port=PORT, threaded=True)
