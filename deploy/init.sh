#!/bin/sh
# Makes what the deployment shares, once: random secrets in /secrets and a
# fleet definition with its vending keys and decoder-key injection in
# /fleet. Files that exist are kept, so a restart changes nothing.
set -eu
umask 077

for name in fleet_secret vendor_password analytics_password api_token; do
	if [ ! -s "/secrets/$name" ]; then
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"/secrets/$name"
	fi
done

if [ ! -s /fleet/fleet.json ]; then
	vendor fleet init --meters "${METERS:-1000}" --out /fleet
fi
