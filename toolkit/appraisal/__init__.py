"""Risk-of-bias appraisal (RoB 2, ROBINS-I, JBI, MINORS, Newcastle-Ottawa) and GRADE."""
