from referral import create_app

app = create_app()
