"""Intent content for the support-answer workload: payments, account, shop policies (layout: content_orders.py)."""

ACCOUNT = {
    "payment_issue": {
        "prompts": [
            "(I have|there's) a problem with (my|the) payment for {order}{branch}",
            "(my|the) payment (for|on) {order} (didn't work|went wrong){branch}",
            "(payment|checkout) (problem|issue) with the {item}{branch}",
            "(help|please help), (I can't|can't) pay for my {item}{branch}",
        ],
        "branches": {
            "declined": {
                "prompt": [", my card keeps getting declined", ". It says payment declined", ". The card was refused at checkout"],
                "body": [["A declined payment usually comes from the bank: please check that the card details, expiry date and billing address match what your bank has, and that 3-D Secure confirmation was completed.",
                          "Declines are normally decided by your card issuer. Check the card number, expiry date and billing address, approve the payment in your banking app if asked, or try another card."]],
            },
            "double_charge": {
                "prompt": [". I was charged twice", ". The money was taken two times", ". I see two identical charges"],
                "body": [["When a payment is retried, your bank may show a temporary authorisation twice; only one is captured, and the duplicate disappears within 3-5 business days.",
                          "A double charge is usually a pending authorisation from a retried checkout; the extra one is released by your bank within 3-5 business days."]],
            },
            "stuck": {
                "prompt": [". The payment is stuck on processing", ". It's been pending for hours", ". The page froze after I paid"],
                "body": [["If the page froze after paying, please don't pay again yet: check your email and Order History for a confirmation of @order first, as the payment often completes in the background.",
                          "A payment stuck on processing often completes anyway, so look for a confirmation email or @order in Order History before trying again, to avoid paying twice."]],
            },
        },
        "open": [["I'm sorry you're having trouble with the payment for @order.", "Thanks for reaching out about the payment problem.", "I understand how frustrating payment issues are; let's sort it out."]],
        "body": [["If the problem continues, our billing team can look at the transaction on {{Customer Support Phone Number}}.", "Should it keep happening, call {{Customer Support Phone Number}} and our billing team will check the transaction."],
                 ["Please never send full card numbers by email or chat.", "For your security, please don't share your full card number in messages."]],
    },
    "payment_methods": {
        "prompts": [
            "(do you accept|can I pay with|can I use) {branch}",
            "(what|which) payment methods (do you accept|can I use)? (is|what about) {branch}",
            "(is it possible|can I) (to pay|pay) (for the {item}|) (with|using) {branch}",
        ],
        "branches": {
            "paypal": {
                "prompt": ["PayPal", "paypal", "a PayPal account"],
                "body": [["Yes, PayPal is accepted: choose PayPal at checkout and you'll be taken to PayPal to confirm the payment.",
                          "PayPal is one of our payment options; select it at checkout and approve the payment in your PayPal account."]],
            },
            "instalments": {
                "prompt": ["instalments", "pay later", "Klarna"],
                "body": [["Yes, you can spread the cost into three interest-free instalments with {{Pay Later Provider}} on orders over {{Minimum Instalment Amount}}; choose Pay Later at checkout.",
                          "Orders over {{Minimum Instalment Amount}} can be split into three interest-free payments with {{Pay Later Provider}}, selected at checkout."]],
            },
            "crypto": {
                "prompt": ["bitcoin", "crypto", "cryptocurrency"],
                "body": [["We don't accept cryptocurrency at the moment; you can pay by card, PayPal, Apple Pay, Google Pay or {{Website Name}} gift card.",
                          "Unfortunately cryptocurrency isn't supported. Accepted methods are debit and credit cards, PayPal, Apple Pay, Google Pay and gift cards."]],
            },
        },
        "open": [["Thanks for asking about payment options.", "Great question about how you can pay.", "Happy to explain the payment methods we accept."]],
        "body": [["All payments are processed securely, and your card details are never stored on our servers.", "Every payment is encrypted, and we never store full card details."],
                 ["The full list is on the Payment Options page of {{Website Name}}.", "You can see every option on the Payment Options page of {{Website Name}}."]],
    },
    "recover_password": {
        "prompts": [
            "(I forgot|I can't remember) my password{branch}",
            "(how do I|how can I) reset my password{branch}",
            "(I can't|can't) log in to my account{branch}",
            "password reset (not working|help){branch}",
        ],
        "branches": {
            "no_email": {
                "prompt": [". The reset email never arrives", ", I didn't get the reset link", ". No email came through"],
                "body": [["If the reset email doesn't arrive within ten minutes, please check your spam or junk folder and make sure you used the email address registered with {{Website Name}}.",
                          "Reset emails can land in spam or junk, so please look there, and check that you typed the address you registered with."]],
            },
            "link_expired": {
                "prompt": [". The link says it expired", ", the reset link doesn't work", ". It says the link is invalid"],
                "body": [["Reset links are valid for 30 minutes and only once, so please request a new one and open it straight away in the same browser.",
                          "Each reset link works once and expires after 30 minutes; request a fresh link and use it right away."]],
            },
            "plain": {
                "prompt": ["", "", "."],
                "body": [["On the sign-in page, click Forgot Password, enter your email address and follow the link we send you to choose a new password.",
                          "Click Forgot Password on the sign-in page and enter your email; you'll receive a link to set a new password."]],
            },
        },
        "open": [["I'm sorry you're locked out of your account.", "No worries, resetting your password only takes a minute.", "I can help you get back into your account."]],
        "body": [["Choose a password of at least 10 characters that you don't use on other sites.", "We recommend a password of 10 or more characters that's unique to {{Website Name}}."],
                 ["If you still can't get in, contact {{Customer Support Email Address}} from your registered email address.", "Still stuck? Write to {{Customer Support Email Address}} from the address on your account."]],
    },
    "delete_account": {
        "prompts": [
            "(I want|I'd like|please) (to delete|delete|to close) my account{branch}",
            "(how do I|how can I) (delete|close|remove) my {{Website Name}} account{branch}",
            "(remove|erase) all my data{branch}",
        ],
        "branches": {
            "open_orders": {
                "prompt": [". I still have an order on the way", ", but I'm waiting for a refund", ". One order hasn't arrived yet"],
                "body": [["Because you still have an open order or refund, the account can only be deleted once it's completed; we'll keep @order linked to it until then.",
                          "Accounts with an open order or refund can't be deleted straight away; once @order is completed, the deletion can go ahead."]],
            },
            "plain": {
                "prompt": ["", ". I don't use it anymore", ". I'm not happy with the service"],
                "body": [["Go to Account Settings > Privacy on {{Website Name}} and choose Delete Account; you'll be asked to confirm by email.",
                          "You can request deletion yourself under Account Settings > Privacy > Delete Account, followed by an email confirmation."]],
            },
        },
        "open": [["I'm sorry to see you go.", "Thanks for being a customer; I'll explain how to close your account.", "I understand you'd like your account removed."]],
        "body": [["Deletion is permanent: your order history, saved addresses and any gift card balance are removed within 30 days, except records we must keep for tax purposes.",
                  "Please note that deletion can't be undone, and saved addresses, order history and gift card balances are erased within 30 days, apart from legally required records."],
                 ["If you only want fewer emails, you can unsubscribe from the newsletter instead.", "If it's the emails that bother you, unsubscribing from the newsletter may be enough."]],
    },
    "edit_account": {
        "prompts": [
            "(how do I|how can I|I need to) (change|update) (the|my) {branch} (on|for) my account",
            "(my|the) {branch} (on my account|) is (wrong|out of date)",
            "(I want|I'd like) to (update|edit) my {branch}",
        ],
        "branches": {
            "email": {
                "prompt": ["email address", "email", "e-mail"],
                "body": [["To change your email, go to Account Settings > Login & Security, enter the new address and confirm it with the code we send there.",
                          "Your email can be updated under Account Settings > Login & Security; we'll send a confirmation code to the new address."]],
            },
            "phone": {
                "prompt": ["phone number", "mobile number", "number"],
                "body": [["To change your phone number, open Account Settings > Contact Details, enter the new number and confirm it with the text message code.",
                          "Update the number under Account Settings > Contact Details and confirm it with the SMS code we send."]],
            },
            "name": {
                "prompt": ["name", "surname", "last name"],
                "body": [["You can edit your name under Account Settings > Personal Details; the change applies to future orders and invoices.",
                          "Names are edited in Account Settings > Personal Details, and the new name appears on future orders and invoices."]],
            },
        },
        "open": [["Happy to help you update your account details.", "Thanks for keeping your details up to date.", "Sure, updating that is quick."]],
        "body": [["Orders already placed keep the details they were placed with.", "Existing orders keep the details used when they were placed."],
                 ["If you can't access the setting, contact us on {{Customer Support Phone Number}}.", "Should you have any trouble, call {{Customer Support Phone Number}}."]],
    },
    "newsletter": {
        "prompts": [
            "(how do I|how can I|I want to) {branch} (the|your) newsletter",
            "(please|can you) {branch} (the|your) (newsletter|emails)",
            "{branch} newsletter",
        ],
        "branches": {
            "subscribe": {
                "prompt": ["subscribe to", "sign up for", "join"],
                "body": [["To subscribe, enter your email in the newsletter box at the bottom of {{Website Name}} or tick Newsletter under Account Settings > Communication.",
                          "You can sign up at the bottom of any page of {{Website Name}} or under Account Settings > Communication."],
                         ["New subscribers get a welcome code of {{Discount Percentage}} off their next order.", "As a welcome, you'll receive a code for {{Discount Percentage}} off your next order."]],
            },
            "unsubscribe": {
                "prompt": ["unsubscribe from", "stop", "opt out of"],
                "body": [["To unsubscribe, click the Unsubscribe link at the bottom of any of our emails, or untick Newsletter under Account Settings > Communication.",
                          "Use the Unsubscribe link in any newsletter email, or switch it off under Account Settings > Communication."],
                         ["It can take up to 48 hours for emails already scheduled to stop.", "Emails already scheduled may still arrive for up to 48 hours."]],
            },
        },
        "open": [["Thanks for getting in touch about our newsletter.", "Of course, I can help with the newsletter.", "Sure thing."]],
        "body": [["Order confirmations and delivery updates are sent regardless, as they're part of your orders.", "Service emails such as order confirmations and delivery updates are always sent."]],
    },
    "complaint": {
        "prompts": [
            "I (want|would like) to (make|file) a complaint{branch}",
            "(I'm|I am) (really unhappy|very disappointed|not happy){branch}",
            "complaint about {order}{branch}",
        ],
        "branches": {
            "courier": {
                "prompt": [" about the delivery driver", ". The courier threw my parcel over the fence", ". The driver was rude"],
                "body": [["I'm sorry about the courier's behaviour. We'll pass your complaint to the carrier's delivery team with the details of @order, and they take these reports seriously.",
                          "That's not the standard we expect from our delivery partners; I'll report it to the carrier together with @order."]],
            },
            "quality": {
                "prompt": [" about the quality of the {item}", ". The {item} fell apart after a week", ". The {item} is cheaply made"],
                "body": [["I'm sorry the @item didn't meet your expectations. Please send us a photo through Report a Problem on @order so our quality team can review the product; you're entitled to a return or refund.",
                          "I'm sorry to hear about the quality of the @item. Our quality team reviews every report, so please add a photo under Report a Problem on @order, and we'll arrange a refund or replacement."]],
            },
            "service": {
                "prompt": [" about your customer service", ". Nobody answers my emails", ". I've been waiting for a reply for days"],
                "body": [["I'm sorry you've been waiting. I've escalated your case to a team lead, who will contact you within one business day.",
                          "I apologise for the slow replies. Your case is now escalated to a senior agent, who will get back to you within one business day."]],
            },
        },
        "open": [["Thank you for telling us about this, and I'm sorry for your experience.", "I'm sorry things went wrong, and thank you for letting us know.", "I appreciate you taking the time to raise this."]],
        "body": [["Your complaint reference is {{Complaint Reference Number}}; please quote it if you contact us again.", "Please keep the reference {{Complaint Reference Number}} for any follow-up."],
                 ["If you're not satisfied with our response, you can ask for a review by our customer relations team at {{Customer Support Email Address}}.",
                  "If our answer doesn't resolve things, our customer relations team at {{Customer Support Email Address}} can review the case."]],
    },
    "contact_human_agent": {
        "prompts": [
            "(I want|I need|can I) (to talk|talk|to speak) to a (human|real person|agent){branch}",
            "(how do I|how can I) (reach|contact) (customer service|your support team){branch}",
            "(agent|human) please{branch}",
        ],
        "branches": {
            "phone": {
                "prompt": [" by phone", ". Can I call someone", ". What's your phone number"],
                "body": [["You can call our team on {{Customer Support Phone Number}} during {{Customer Support Hours}}; have your order number ready so we can help faster.",
                          "Our phone line, {{Customer Support Phone Number}}, is open during {{Customer Support Hours}}; please keep your order number to hand."]],
            },
            "chat": {
                "prompt": [" on live chat", ". Is there a chat", ". I prefer chatting"],
                "body": [["Live chat is available on {{Website Name}} under Help > Chat with Us during {{Customer Support Hours}}, and an agent usually joins within five minutes.",
                          "Open Help > Chat with Us on {{Website Name}}; during {{Customer Support Hours}} an agent normally answers within five minutes."]],
            },
            "plain": {
                "prompt": ["", ". This bot isn't helping", "."],
                "body": [["You can reach a person by phone on {{Customer Support Phone Number}}, by live chat on {{Website Name}}, or by email at {{Customer Support Email Address}}.",
                          "A member of our team is available by phone at {{Customer Support Phone Number}}, by live chat on {{Website Name}} or by email at {{Customer Support Email Address}}."]],
            },
        },
        "open": [["Of course, I'll connect you with our team.", "I understand you'd like to speak with a person.", "Sure, here's how to reach a member of our team."]],
        "body": [["Emails are answered within 24 hours, including weekends.", "We reply to emails within 24 hours, seven days a week."]],
    },
    "get_invoice": {
        "prompts": [
            "(I need|can I get|where can I find) (an|the) invoice for {order}{branch}",
            "(please send|send) me the invoice (for|of) {order}{branch}",
            "invoice (for|of) (my|the) {item}{branch}",
        ],
        "branches": {
            "business": {
                "prompt": [" with my company's VAT number", ". It's for my business", ". I need it for my company's expenses"],
                "body": [["For a business invoice, add your company name and VAT number under Account Settings > Business Details first; the invoice for @order is then reissued with those details.",
                          "To show your company and VAT number, save them in Account Settings > Business Details, then download the reissued invoice for @order."]],
            },
            "plain": {
                "prompt": ["", ".", ". I can't find it"],
                "body": [["Your invoice is available as a PDF: open @order in Order History on {{Website Name}} and click Download Invoice.",
                          "Invoices can be downloaded as PDFs under Order History: select @order and choose Download Invoice."]],
            },
        },
        "open": [["Happy to help you get the invoice for @order.", "Sure, the invoice for @order is easy to get.", "Thanks for reaching out about your invoice."]],
        "body": [["Invoices appear once the order has shipped.", "Please note that the invoice becomes available when the order ships."],
                 ["If you need a copy posted, contact {{Customer Support Email Address}} with @order.", "For a paper copy, email {{Customer Support Email Address}} quoting @order."]],
    },
    "shipping_options": {
        "prompts": [
            "(how much is|what does) shipping cost{branch}",
            "(do you|can you) (ship|deliver){branch}",
            "(what are|which) (your|the) delivery options{branch}",
            "(how long|how many days) (does|will) delivery take{branch}",
        ],
        "branches": {
            "domestic": {
                "prompt": ["", " within the UK", " to London"],
                "body": [["Standard delivery takes 3-5 business days and costs {{Standard Shipping Fee}}, free on orders over {{Free Shipping Threshold}}; express delivery arrives the next business day for {{Express Shipping Fee}}.",
                          "Within the country, standard shipping is {{Standard Shipping Fee}} and takes 3-5 business days, free over {{Free Shipping Threshold}}, while express next-day delivery costs {{Express Shipping Fee}}."]],
            },
            "international": {
                "prompt": [" to Canada", " internationally", " to Germany"],
                "body": [["We ship to over 40 countries; international delivery takes 7-14 business days and the cost is shown at checkout once you enter the address. Import duties may apply on arrival.",
                          "International orders arrive in 7-14 business days, with the shipping cost calculated at checkout; customs duties, if any, are paid on delivery."]],
            },
        },
        "open": [["Thanks for asking about delivery.", "Happy to explain our shipping options.", "Great question about shipping."]],
        "body": [["Every order comes with a tracking link by email.", "You'll receive a tracking link for every order."],
                 ["The full details are on the Shipping page of {{Website Name}}.", "See the Shipping page on {{Website Name}} for the full list of options."]],
    },
    "discount_code": {
        "prompts": [
            "(my|the) (discount|promo) code {branch}",
            "(I can't|can't) use (my|the) (voucher|discount code){branch}",
            "(why won't|the checkout won't) (accept|take) my (promo code|code){branch}",
        ],
        "branches": {
            "expired": {
                "prompt": [" says it expired", ". It says expired", " is out of date"],
                "body": [["Unfortunately the code has expired: each promotion runs for a fixed period, shown in the email it came with, and expired codes can't be reactivated.",
                          "That code is past its end date; promotions run for a limited time and can't be extended once they end."]],
            },
            "not_applicable": {
                "prompt": [" doesn't work on the {item}", " isn't valid for the items in my basket", " won't apply to sale items"],
                "body": [["Some codes exclude sale items or certain brands, and that may be why it doesn't apply to the @item; the conditions are listed in the email with the code.",
                          "Many codes don't cover sale items or selected brands like the @item; please check the terms that came with the code."]],
            },
        },
        "open": [["I'm sorry the code isn't working for you.", "Thanks for letting us know about the discount code.", "I understand how annoying it is when a code won't apply."]],
        "body": [["Codes are entered in the Promo Code box on the basket page before payment, and only one code can be used per order.",
                  "Please enter the code in the Promo Code field of your basket before paying; one code applies per order."],
                 ["Subscribe to the newsletter at {{Website Name}} to get current offers.", "Current offers are sent to newsletter subscribers of {{Website Name}}."]],
    },
    "restock": {
        "prompts": [
            "(when will|will) the {item} be back in stock{branch}",
            "(the|your) {item} is (sold out|out of stock){branch}",
            "(are you getting|do you have) more of the {item}{branch}",
        ],
        "branches": {
            "size": {
                "prompt": [" in my size", " in medium", " in a size 42"],
                "body": [["Popular sizes of the @item are usually restocked within two to four weeks; click Notify Me on the product page and choose your size to get an email when it's back.",
                          "Sizes of the @item normally come back within two to four weeks. Select your size and press Notify Me to be emailed as soon as it returns."]],
            },
            "plain": {
                "prompt": ["", "?", ". I really want one"],
                "body": [["We don't have a confirmed restock date for the @item yet; press Notify Me on the product page and we'll email you the moment it's available.",
                          "There's no confirmed date for the @item yet, but if you click Notify Me on its page you'll be emailed as soon as it's back."]],
            },
        },
        "open": [["Thanks for your interest in the @item.", "I'm sorry the @item is out of stock right now.", "Great choice; the @item has been very popular."]],
        "body": [["Restocked items sell quickly, so we recommend ordering soon after you get the email.", "Restocks often sell out fast, so it's best to order soon after the notification."]],
    },
}
