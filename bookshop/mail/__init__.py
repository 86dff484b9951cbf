"""Mail to shoppers: an outbox written with the order's transitions, and a sender that delivers it
over SMTP (message templates in templates/mail/)."""
