"""Health checkers (TCP, HTTP_GET, SSL_GET, SMTP, DNS, MISC, UDP, PING, FILE) with keepalived's retry rules."""
