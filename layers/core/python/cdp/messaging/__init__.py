"""Message content and delivery: templates, MIME with one-click unsubscribe, SES email and SNS SMS."""
