"""Intent content for the support-answer workload: orders, delivery, returns and refunds.

Each intent has ``prompts`` (templates in the bench/workloads/textgen.py syntax; ``{order}``,
``{item}`` and ``{branch}`` are filled per example), ``branches`` (what the customer's situation is:
the phrases that say so in a prompt and the answer sentences that follow from it), ``open`` and
``body`` (answer sentences; each entry is a list of alternative wordings). In answer text ``@order``
becomes the order number from the prompt (or the ``{{Order Number}}`` slot), ``@item`` the item.
"""

ORDERS = {
    "cancel_order": {
        "prompts": [
            "(I want|I need|I'd like) to cancel {order}{branch}",
            "(how do I|how can I|can I) cancel {order}? {branch}",
            "please cancel {order} for the {item}{branch}",
            "(I changed my mind about|I no longer want) the {item} ({order}), (can you|please) cancel it{branch}",
            "cancel {order}{branch}",
            "(is it too late|is it still possible) to cancel {order}{branch}",
        ],
        "branches": {
            "not_shipped": {
                "prompt": [", it hasn't shipped yet", ". I only placed it an hour ago", ". It still says processing"],
                "body": [["Because @order has not left our warehouse yet, you can cancel it yourself: sign in to {{Website Name}}, open Order History, select @order and click Cancel Order.",
                          "Good news: @order is still being processed, so it can be cancelled right away. Go to Order History on {{Website Name}}, choose @order and press Cancel Order."]],
            },
            "shipped": {
                "prompt": [", but I think it already shipped", ". The tracking says dispatched", ". It was sent out yesterday"],
                "body": [["As @order has already been dispatched, it can no longer be cancelled, but you can refuse the parcel at delivery or return the @item within 30 days for a full refund.",
                          "Since @order is already on its way, we can't stop it now. Please refuse the delivery or start a return for the @item once it arrives; the refund follows when it reaches us."]],
            },
            "unknown": {
                "prompt": ["", "", "."],
                "body": [["If @order has not shipped yet, you can cancel it under Order History on {{Website Name}}. If it has already left the warehouse, you can refuse the parcel or return the @item within 30 days.",
                          "Whether it can still be cancelled depends on its status: a processing order can be cancelled in Order History on {{Website Name}}, while a dispatched one has to be returned once the @item arrives."]],
            },
        },
        "open": [["I understand you'd like to cancel @order for the @item.", "Thanks for letting us know you want to cancel @order.",
                  "I'm sorry the @item is no longer what you need; I'll help you cancel @order."]],
        "body": [["Once the cancellation is confirmed, the payment goes back to your original payment method within 5-7 business days.",
                  "Your refund is issued to the original payment method as soon as the cancellation is confirmed, usually within 5-7 business days."],
                 ["You will receive a confirmation email at the address on your account.", "A confirmation email will follow within a few minutes."]],
    },
    "change_order": {
        "prompts": [
            "(can I|is it possible to|how do I) change {order}? {branch}",
            "I (need|want) to (change|edit|modify) {order}{branch}",
            "(I made a mistake in|I ordered the wrong thing in) {order}{branch}",
            "(please|could you) (update|change) the {item} in {order}{branch}",
        ],
        "branches": {
            "size": {
                "prompt": [", I need a different size of the {item}", ". I picked the wrong size", ", the {item} should be a size larger"],
                "body": [["To change the size, open @order in Order History on {{Website Name}}, select Edit Items and pick the new size of the @item before the order is packed.",
                          "You can swap the size of the @item yourself: go to Order History, open @order, choose Edit Items and select the size you need."]],
            },
            "colour": {
                "prompt": [", I want the {item} in another colour", ". Can I get it in black instead", ". Wrong colour selected"],
                "body": [["To pick another colour, open @order in Order History, choose Edit Items and select the colour you prefer for the @item, if it is in stock.",
                          "Switching the colour of the @item is possible while @order is processing: use Edit Items in Order History and choose the new colour."]],
            },
            "quantity": {
                "prompt": [", I want two instead of one", ". I need to add another {item}", ". Please remove one of the items"],
                "body": [["To change the quantity, open @order in Order History and use Edit Items; any price difference is charged or refunded automatically.",
                          "Quantities can be changed under Edit Items in Order History; if the total changes, we charge or refund the difference to your payment method."]],
            },
        },
        "open": [["Thanks for reaching out about changing @order.", "I'd be glad to help you update @order.", "No problem, let's get @order corrected."]],
        "body": [["Edits are only possible until the order is packed, usually within two hours of placing it.", "Please note that changes can only be made before the order is packed, normally within two hours."],
                 ["If the Edit Items button is greyed out, contact us on {{Customer Support Phone Number}} and we'll check what can still be done.",
                  "If you no longer see the option, call {{Customer Support Phone Number}} and our team will see whether the warehouse can still make the change."]],
    },
    "track_order": {
        "prompts": [
            "where is {order}{branch}",
            "(can you|could you) (track|check on) {order} (for me|)? {branch}",
            "(how do I|how can I) track {order}{branch}",
            "(what's the status of|any update on) {order} (for the {item}|)? {branch}",
            "(I'm still waiting for|still waiting on) my {item}, {order}{branch}",
        ],
        "branches": {
            "recent": {
                "prompt": ["", ". I ordered it yesterday", ". I placed it this morning"],
                "body": [["Orders usually ship within 1-2 business days, so @order may still be in preparation; as soon as it ships, you'll get an email with a tracking link.",
                          "Since @order was placed recently, it may not have shipped yet. We send a tracking link by email the moment the @item leaves our warehouse."]],
            },
            "late": {
                "prompt": [". It's been over a week", ". It was supposed to arrive on Monday", ". The delivery date has passed"],
                "body": [["I'm sorry @order is taking longer than expected. If the estimated delivery date has passed by more than three business days, reply to this message and we'll open an investigation with the carrier.",
                          "I apologise for the delay with @order. When a parcel is more than three business days late, we open a trace with the carrier and, if it can't be found, send a replacement @item or a refund."]],
            },
        },
        "open": [["Thanks for checking in about @order.", "I'd be happy to help you track @order for the @item.", "Let me help you find out where your @item is."]],
        "body": [["You can follow it at any time under Order History on {{Website Name}}: open @order and click Track Package.",
                  "To see the latest status, sign in to {{Website Name}}, go to Order History, select @order and choose Track Package."],
                 ["The tracking page shows the carrier, the tracking number and the estimated delivery date.", "There you'll find the carrier's tracking number and the latest delivery estimate."]],
    },
    "change_shipping_address": {
        "prompts": [
            "(I need|I want) to change the (delivery|shipping) address (for|on) {order}{branch}",
            "(can I|how do I) (update|change) (my|the) (shipping|delivery) address{branch}",
            "(I moved|I've moved house), (please|can you) send {order} to my new address{branch}",
            "wrong address on {order}{branch}",
        ],
        "branches": {
            "not_shipped": {
                "prompt": [", it hasn't shipped yet", ". I just placed the order", ""],
                "body": [["While @order is still processing, you can change the address yourself: open it in Order History on {{Website Name}}, click Edit Shipping Address and save the new address.",
                          "Because @order hasn't shipped, the address can still be updated under Order History > Edit Shipping Address on {{Website Name}}."]],
            },
            "shipped": {
                "prompt": [". It's already been shipped", ". The parcel is already on its way", ". Tracking says in transit"],
                "body": [["Once a parcel has shipped we can't edit the address in our system, but you can use the carrier's redirect option from the tracking page of @order, or contact the carrier with the tracking number.",
                          "As @order is already in transit, the address can only be changed by the carrier: open Track Package for @order and choose Redirect Delivery, or call the carrier with your tracking number."]],
            },
        },
        "open": [["I understand you need the delivery address for @order updated.", "Thanks for telling us about your new address.", "Happy to help you get @order to the right place."]],
        "body": [["Please double-check the postcode and flat number, as most delivery problems come from small typos.",
                  "Make sure the postcode and house or flat number are correct before saving."],
                 ["To update the default address for future orders, go to Account Settings > Addresses.", "For future orders, you can change your saved address under Account Settings > Addresses."]],
    },
    "delivery_problem": {
        "prompts": [
            "{order} (never arrived|hasn't arrived|is missing){branch}",
            "(I didn't receive|I never got) my {item}{branch}",
            "(my|the) parcel (for|with) {order} (is missing|never came){branch}",
            "(where is my|still no) {item}? {order}{branch}",
        ],
        "branches": {
            "marked_delivered": {
                "prompt": [". The tracking says delivered but nothing is here", ". It says delivered but I wasn't home", ". It shows delivered yesterday"],
                "body": [["When tracking shows delivered but you don't have the parcel, please check with neighbours, your building's reception and any safe place the courier may have used; carriers sometimes mark a parcel delivered a day early.",
                          "A delivered status without a parcel usually means it was left with a neighbour or in a safe place, or scanned early; please check those first and wait until the end of the next business day."]],
            },
            "no_update": {
                "prompt": [". The tracking hasn't updated in days", ". There's no tracking information", ". It's stuck in transit"],
                "body": [["If the tracking of @order hasn't moved for more than five business days, the parcel may be delayed at a depot; we'll contact the carrier to locate it.",
                          "Tracking that stops updating usually means a delay at a sorting depot. We'll ask the carrier to trace @order."]],
            },
        },
        "open": [["I'm sorry your @item from @order hasn't reached you.", "I'm sorry to hear @order hasn't arrived.", "Thank you for letting us know about the missing parcel for @order."]],
        "body": [["If it still hasn't turned up, report it under Order History > @order > Report a Problem, and we'll send a replacement @item or a full refund.",
                  "If it's still missing after that, use Report a Problem on @order in {{Website Name}} and we'll either reship the @item or refund you in full."],
                 ["You can also reach us on {{Customer Support Phone Number}} if it's urgent.", "For anything urgent, our team is available on {{Customer Support Phone Number}}."]],
    },
    "return_item": {
        "prompts": [
            "(I want|I need|I'd like) to return (the|my) {item}{branch}",
            "(how do I|how can I|can I) return (the|my) {item} from {order}{branch}",
            "return (for|of) {order}{branch}",
            "(I'd like to send back|sending back) the {item}{branch}",
        ],
        "branches": {
            "damaged": {
                "prompt": [", it arrived damaged", ". It was broken when it arrived", ". The box was crushed and the {item} is cracked"],
                "body": [["Since the @item arrived damaged, the return is free: please upload two or three photos of the damage when you start the return, and we'll email you a prepaid label.",
                          "I'm sorry the @item arrived broken. Damaged items are returned free of charge; add photos of the damage in the return form and a prepaid label will be sent to you."]],
            },
            "wrong_size": {
                "prompt": [", it doesn't fit", ". Wrong size", ". It's too small"],
                "body": [["If the @item doesn't fit, you can choose Exchange for another size in the return form, or Refund if you'd rather have your money back; size exchanges ship free.",
                          "For a size problem, pick Exchange in the return form to get a different size of the @item sent free of charge, or pick Refund."]],
            },
            "changed_mind": {
                "prompt": [", I changed my mind", ". I don't need it anymore", ". I just don't like it"],
                "body": [["You can return the @item within 30 days as long as it's unused and in its original packaging; a return shipping fee of {{Return Shipping Fee}} is deducted from the refund.",
                          "Items you no longer want can be returned within 30 days if unused and in the original packaging; the return label costs {{Return Shipping Fee}}, which we take off the refund."]],
            },
            "wrong_item": {
                "prompt": [", you sent me the wrong item", ". This isn't what I ordered", ". I received someone else's order"],
                "body": [["I'm sorry we sent the wrong item. The return is free: start it in the return form, choose Wrong Item, and we'll ship the @item you ordered as soon as the carrier scans the parcel.",
                          "Apologies for the mix-up. Choose Wrong Item in the return form; the label is free and the correct @item is dispatched once the return is scanned."]],
            },
        },
        "open": [["Thanks for reaching out about returning the @item.", "I can help you with the return of the @item from @order.", "Of course, let's get the @item sent back."]],
        "body": [["To start, go to Order History on {{Website Name}}, open @order and click Return Item.", "Start the return from Order History on {{Website Name}}: select @order and choose Return Item."],
                 ["The refund is issued to your original payment method within 5-10 business days after we receive the parcel.", "Once the parcel reaches our warehouse, the refund is processed within 5-10 business days."]],
    },
    "refund_status": {
        "prompts": [
            "(where is|when will I get) my refund for {order}{branch}",
            "(I returned|I sent back) the {item} (a week ago|two weeks ago|last week) and (still no refund|haven't been refunded){branch}",
            "(how long does|how long will) (a|the) refund take{branch}",
            "refund (status|not received) {order}{branch}",
        ],
        "branches": {
            "card": {
                "prompt": [". I paid by credit card", ". I used my debit card", " (paid with Visa)"],
                "body": [["Refunds to a card take 5-10 business days after we process the return, because your bank needs time to post the credit to your statement.",
                          "For card payments, the refund appears on your statement 5-10 business days after processing, depending on your bank."]],
            },
            "paypal": {
                "prompt": [". I paid with PayPal", ". I used PayPal", " (PayPal payment)"],
                "body": [["Refunds to PayPal are usually visible within 3-5 business days after processing, in your PayPal activity.",
                          "As you paid with PayPal, the refund should show in your PayPal balance within 3-5 business days of processing."]],
            },
            "gift_card": {
                "prompt": [". I paid with a gift card", ". It was paid with store credit", ". I used a voucher"],
                "body": [["Refunds for gift card payments go back to the gift card balance instantly once the return is processed.",
                          "Because you paid with a gift card, the amount returns to that card immediately after processing."]],
            },
        },
        "open": [["I understand you're waiting for the refund for @order.", "Thanks for your patience while we process your refund.", "Let me explain where your refund for the @item stands."]],
        "body": [["We process returns within two business days of the parcel arriving at our warehouse, and you'll get an email the moment the refund is issued.",
                  "Returns are processed within two business days of arrival, followed by a confirmation email."],
                 ["If that time has passed, please contact {{Customer Support Email Address}} with @order so we can trace the payment.",
                  "If it's been longer, email {{Customer Support Email Address}} quoting @order and we'll trace the refund for you."]],
    },
    "warranty_claim": {
        "prompts": [
            "my {item} (stopped working|broke|is faulty){branch}",
            "(is|can I claim) (the|my) {item} (still under warranty|on the warranty){branch}",
            "(the|my) {item} from {order} (has a defect|doesn't work anymore){branch}",
            "warranty claim for (my|the) {item}{branch}",
        ],
        "branches": {
            "recent": {
                "prompt": [", I bought it two months ago", ". It's only a few weeks old", ". I got it in the spring"],
                "body": [["As the @item is well within the two-year warranty, we'll repair or replace it at no cost; if it can't be fixed, you'll get a full refund.",
                          "The @item is covered by the two-year warranty, so a repair or replacement is free, and a refund is offered if neither is possible."]],
            },
            "old": {
                "prompt": [", I've had it for almost three years", ". I bought it in 2022", ". It's a few years old now"],
                "body": [["Our standard warranty covers two years from delivery, so the @item may be outside it; the manufacturer's extended warranty or our paid repair service may still help.",
                          "Since the @item seems older than our two-year warranty period, the claim may need to go through the manufacturer or our paid repair service."]],
            },
        },
        "open": [["I'm sorry your @item is giving you trouble.", "Thanks for letting us know about the problem with your @item.", "I'm sorry to hear the @item isn't working properly."]],
        "body": [["To open a claim, go to Order History on {{Website Name}}, select @order, choose Warranty Claim and describe the fault; a short video helps.",
                  "Please start a claim under Order History > @order > Warranty Claim, with a description of the fault and, if possible, a photo or video."],
                 ["Our team will reply within three business days with the next steps.", "We'll get back to you within three business days."]],
    },
}
