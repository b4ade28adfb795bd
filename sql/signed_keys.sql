--
-- Signed mode with keys from tenancy.signing_keys: each algorithm, and the
-- attacks on a JWS verifier (wrong key or kid, algorithm confusion, "none",
-- expiry, nbf, iss and aud, non-canonical base64url, over-long and deeply
-- nested input, invalid UTF-8); who can see and change the keys; rotation.
--
-- The RS256, ES256 and EdDSA tokens below were signed by
-- test/keys/make_tokens.py with the test-only keys in test/keys/ and expire
-- in 2100; HS256 tokens are made here, with pgcrypto.
--
CREATE EXTENSION pg_tenancy;
CREATE EXTENSION pgcrypto;
\set SHOW_CONTEXT never
\set VERBOSITY default

\set rs256 eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.H_H5D4fKG_Po_3rE1ldKQY0xdQaeyC6m6JM4V0k8mpBRGLgutp0rBuAIUOKFyUUuHZN8anutVqCM2oPdwWH0yq8-M03dPxW-59LwNqRP5Ey5YfFgjA-UFK-9l8EDv1SZ_77jE98DdQdx-VE07pMFiwJjiObkay5ASyPBzh_tQZcAHOEppCRq1HBLMWM4LWX9cDoaDZaQhxrbs9yR5_wWaHfTvsGwW94_9niK6gD2MG57GS_AiUEM4In3axkHPTC36Ni1BC5tM5yT5vtevlwjOxHuLrncv_ug1gk13-0s8RhEntdtdxkXgmNgx7baiUN4Hj7e1SaPm741R_6lkPiOMA
\set es256 eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.cpCRQe1WsX2zTCzk3RVVHT_JZZc5BBYDw_Bz01beEK6M1ly_U1QGyZY8Gn14rLJFmp1MBYhBPhnVDNOT_y8emA
\set eddsa eyJhbGciOiJFZERTQSIsImtpZCI6ImVkLTEifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJleHAiOjQxMDI0NDQ4MDB9.hbHhRn99ig93SCmofUr5fgCkVoMLSjf6qaR17Nf-Z-TUTRzl7tPu6dEblHSYvLyFdtRyzK6pTm17Gqbt2t6OBA
\set rs256_no_kid eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.e6kP2CfE8LxMTmcCNAIC8eLrfa7qMyRVbUQaemYmtsa4RFWyT9UicnUZtfqeEOQc0-YHYYp6kRP7UtZaSEODdog50qDBzgcGEQKd9snFTySVc4CKkJaH_OBya07R81lwY5EQB0v20lHQZ22r8om2xcTdpremGT76mRg7ySYflAKsXoMtJkJmisVLV11B5Ny3-cd67RLAtYh7EV79DOVoVGdkEwNz1dN5nyVHs3qJXVBFArtHnj3h8rVthtfNerar4dvRaQq6-N0fNgPBRctMN0f5xkOMA5f7jVwbLU86qoWN7Ed0IiirlPsLWOT2Y3IflB4PNVbXhK8pP2cfXrC7tg
\set rs256_rsa2 eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0yIn0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.o19pl4DBrBj97pdbTU9KsW1SnsM1sFe2rfv_0PaEmgUjh4HqgIG9sMrEL88zeQWSFwG1fDofG4B2IhDm1qFcfRi3z6GVHFsN8DjRJ8tbWA93CCz9f3aZEq9Yp6dsy2eFQgblEHvXLFbJdBdHVFu-_dSYjqST5F601ugBj8MiPa3TssOm_LqWxSPUmMZof32Oc4jiLnuiux4qA8xGKoIf2J3-Kiv9sezezp0W_d9FH_ndFY7WgSrCstEBQlAA9V1JAFYvCMJ7x3IjvqAA_ZDjiUjXzEvRgiYFrCaKKXpJsgJgK7LRZDn8awZkm5iWSFCMoL99KsTmIWCGvu8qtwsoAA
\set rs256_wrong_key eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.STTrJJhLXjGV7Al0rjGKahUfTnc1MpPMG2hGYdDno7zDtmcwm6q4I66svyJmMaZuONjP_mXwSBrfm43nJx4_mwX6Nqfdep6Ilg9X07InobjbaefE_pkSbwWskCmUzanBInek6l83TC09iA7tK_7L1_VDbFwHqdPCYIGP_gvYw-hhWV2BU8vxd5N7o2WDFnx2jjr5_NtRVg9QQa5YUwl-beDG3WutfG0KRfj0PUeyytac9TqUN17XIPt9uF0EsKN0G1UIo2_hpowRe0u2X5GfZzkOZoJRsfd6VivhHIOjnXmxUvQVCuDZk9d5JGFVHMfIaNu3isAoyYlivyG2vXiwpQ
\set rs256_unknown_kid eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS05In0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.NaNyWdhH-Wr82iiBGxPX9SoTeFfCem7EM2yatequV8uker8JcVRsoDev5VJ5HzZb4fJWMePeUV9xZRWSqvBwnwFJKaHR0agFSZHL9PL5yw8Lqw4DSCBh4d_t58tM98vPh-ikam9lC8H0E8SmODubyLsYtqj1q_9_aGUyA8uFm03dEZth-0zNsSqss06BUj0rHwPA7KfcDEEtmr5vo-WaRxHQSkfc8Wi_zIN-TWVZz6h1GYQ0X3U_iqQhsSQs_dcfEr518vftn8t5mGHfQKvqj2owtRYsjtz7fCin3tbiWk19uG_Pcov9494tqIvI5dfbpGUYb3naZMgeolG5jXKbjg
\set rs256_expired eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjEwMDAwMDAwMDB9.UqRzJoLhgBMAHnct7STc8CW7x6nr3jItXRp7pnKN1EnCcz67V3fByBEZZDx_kv9LYtxL8lm5nDzEPWF-0JU-V_EHBUzKvwG2sC0iHxdck4uz65UY70NEhzhzZIZwNvRMny3YY3m2wggNvjdWI03WIkOhaviDr1EMpUYSdy1maztKrxn5Lewe-w4HxYl4C-72Sk_PvXzfijkS6O70N3NLt36r_zt-5Vi9GHnznSnnANWLwRZb9HWNgnUXi6vWrtTyFg52X-IF5m4CLRl4bpCXETDomPGw1RZFJhESSRzvGvCPq68ZKAzFwJZEptrZea9T7frmkzzIW_D6dX1l5G9PmQ
\set rs256_nbf_future eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6NDAwMDAwMDAwMH0.OBZO1rzsbXvfJae7wBm1dEFKA-qOIIv22FYhTIs7Iw78GAkER3EuoRFki29KYS0rtrTNGQskZakFQsDfUBOzUj4RiMZMHZQ3O4RGqwPhr-P7HksLrA4N9JzwmBldyrXfDABQpaOFmBzf_A7Fstj86M-LV_9l6QTw0N1JEeB5tGMx9yUXZvPDHWNzGalOKzAVsiy6r_CVR2zkbvGdbPC5wJjKkx7kQFWArb3jfPNOfm5YDhHZIdd_jSw8JrWiw9hnvGAhLS8YP7ZY_hjCZ_jnOSD4quJf0A74vM7Y-3aB82llRoET6AepZ0N0Nh2Vpd8ligXkJPOJlkF3Dbe1FXWi3A
\set rs256_nbf_past eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6MTAwMDAwMDAwMH0.C2tqcqY2BHju96hSJmC7lkSyCjLWj1zg8mvrDThY6i1V-cjhNxpEgckKAbKdFwTYiwOx6uVCmQquirx_uXKm0HSrV5dVxsX8l6sduOKy2psXdo9Lb04eJEbtozOgX5c8b5SNJqWil3mx07Zm4XDahiaB60RY_EY2hvfXeVGjvAFwk5Mmad-a21Np_BfhYWqmuD4Yy-NrwwVbeVJperA6KM8imjLzy5e-6HsNDa4A9v8JDWid8f_bx0eHxoeW7O5PDy9wbXVV-RFumGNHAcPrB7O2WRoOn1kaY8eWSXmMs-_XHCObpBztVKXMiSnqvBkKSAYwZuU2tRrDqT5XXJ4QUw
\set aud_ok eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJhcGkifQ.ncrPRJ09qZAToG_X5jNPTdKfD1_z1q2mPw4nOAKx1ezy-b4IQIPhFZj5DSd_nVCbj2ek3fmbzkJ9nsthyFrKZFqDgXYQ6e7Lmog0hLqQeMoqSD7BGRRrjCWOOAat9TiHO9-NEMLtJvnFdeNa-jQAy7RbsBu90Rw98TdndC3LztrOujKstqW9M_z-Qe452EqjZHA2M0xQ5sY6Xz5OJmvuEdMpDMVa1VYKetpvlj4MY2IZmca-KJlwKdtc2hiOxA7ii7BGmlAs1gEyUZk5Gcb8fAPzvKOcmEjtpnfORxygLsnQ2kDUiWLi4g_YjsIylKa0FtuohuPRAfRN9jXUEeXiUA
\set aud_array_ok eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOlsid2ViIiwiYXBpIl19.D5pedzxMwIJUxeYsrUTAzij5Tvh6Hd6w5doW3JxZLb6-TCuMvpPzFVHqvyoCW4kfWRi9GM_6cdWD-lZaE17VLSLNaK4gt7NBo36ZpB-ELJahPQ0_4y90onwxHQRn10yM6JDhfi8TdUtz2zPxx6usmPwpRs0j1thBlB1TXDvicNVBIeOuSDwnsSFNGDp2SDOl0wPWuzN9KVzm8Xvhr-OkD8RCyM_sClE3LWk3St-pDJiv146cvBkVuZS7P8b5WSgAgUq4_5eQQeivU8cCmyQy8zXh7Kfqut3e8Ehc-I7TWUU85rZUmhTQgkdqQt66MriFfjOcLHYewx_t0nIF7yoJvQ
\set iss_wrong eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwiYXVkIjoiYXBpIn0.X0io0z9k2IC5XmeKLKVWbQkrBHldv8oYZiKe-oOK4u2WiUpCVfprCnrc_A626M33JRUj4m8PuA2y7QGUQkRsW8uf6o1w6LEoSBnYP0Wx8Ak63tLMIx6CT-MS_FscFf36BFktafvl8ls02OkppqZCb214QCG74qCFWX_c28Tfyal_p8QHXcY5UKpbUwgBBZ9yRwZakkbtaQpjlRUkIHkIfM-j6fdEER-dLwxRGVZiCs6i7JuMCrlM0_4Ht5F6sqgqXYBLJlIbOPvQwC5MvAFjysGXKSCk3W3OLxQx6oUeuvQGf3LGDLmSIWpLJoUUnDgZHviU4j0MqUaCW7VvN2ypPg
\set iss_missing eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImF1ZCI6ImFwaSJ9.Y8aYTG7cZtRmwlPcBx7Vs90JokY72ggVA7uWPpm1hVPXCz7FrZ2BN7kkj9O8kSeRyZN5UYSJHBuN5Y_SdbCyWOzyKr9zfykbUhJaa3JJjRD8IMQJSZMGe0305K7txpKHP8RSJzVKIay3ttgLvyQ1EoP8sPmYI8AKkvvh8G1YWcmUBrTuPA-AaDw1cOhIpLIBTOovmI6g3xCR4JjcChidMtzO9hrC4LP96maKhE5EdBNHlRWfsreNuOM42tntkUBypaXDo9-349R6ymFulLvHFsOEzJ4IJSzTgd3X7-iJq3WibkI0zlOAcRNHwIxi2EG1dHS9d5zgg5rn_rA7ma1KHQ
\set aud_wrong eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOiJ3ZWIifQ.izePh9G5xKrXkpOpNXKlQlqswOzoMFfwYoyc3m8da_p0CDMDfRbD_QYE-Qnw34WmOCUNuqPIDERQ-8njsLR4xfI0mQdrGzJDWthNzK-q_DEJ5bSV8IvnPAW-MhEA4P5YgY3a5lVEavnLlNu6j4jdM-hPu2daXB560BPNLQMpikohfNYlp2XSKGD1RyYs8SKeyYNHjFMQyX7KfScMo5Bfh2o3aRbs0MncQsN4TOJMGOZSXQz8Cq4p9xN9Ly6ioWMMMukNeGYeg0g9KGAGLEdEFWkRPxX7m2S-QFbmc38daLf7h021qqGwbYYLlUSLw4rOM_vxrU_u7jAivFCFsHn0sw
\set aud_array_wrong eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOlsid2ViIiwiYWRtaW4iXX0.qzV5PtolSRMUmY9MKrs5HpBLFOZjovXG6J3PWZG6uS_oRqTWZmEnMMfNmoAlKmFGg6RxSarruzW3f01JvgKVV4vGXZIf257VcqTy8fLxZQXwxYfSSqZu-6tumJB16X0_l5qBFGa9zxJQXJjtqo5F3INQXtO2XKJ3TRXEbvtSunoC-o_6k8gMonA6wfgqM6l7g-UD1vfJ8AlAdwUYxC4pObbPE-Czer41eKTBJUyx006b_AAuyJBKp89F-AJXGxAghxuhBI3cDrPYqsZFk45QMo-y3hbLqLG8K2iMcuGhXO38Gv695Nze89EaqJoR5Ml1HMN98IzSU3D4qgIZO62HXg
\set aud_array_nested eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS1hdWQifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaXNzdWVyLmV4YW1wbGUiLCJhdWQiOltbImFwaSJdXX0.eU2rPPZGmMO8mVDtvVBHWmL7Bx_C4_mYGUX5P0RGAggBHibP_fuXs3WfstlUz9f_xbZfi3rCEwjNv28u1zPnxfXfpA8F806mwKCKccvMXsMW6gVavWsjEkyVSmUyHxp3YeWDS_A6LOBTdU4q0OHIlM_ABl1TFx-yzLwJyZfNG9i8VDBcIfCR57lBq93iQz4jX3pdEdNUUx-EoY8ND5SM7F-wBJWVeLoABqTeihwlssoewFN_fA4ZtwkBtjm0hz9dEkPnDGiazrFXCjmTPUoXFdPNEziJnQbhuIKQxGSyWJC5ORNQIJOZ0z8bhVYzaUx9Tp6J795wVNr-mLJCCanU4g
\set es256_der eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.MEUCIQCRvkbW3ESoyP3wITVDABB9Dc0RwUEuGw0zTTVA7TiJKgIgK8VRqHPh-V3iPm5c9pIfUuy2abXo73OWhNqX9pTqx9k
\set es256_as_rs256 eyJhbGciOiJSUzI1NiIsImtpZCI6ImVjLTEifQ.eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJ0ZW5hbnQiOiIyMjIyMjIyMi0yMjIyLTQyMjItODIyMi0yMjIyMjIyMjIyMjIiLCJleHAiOjQxMDI0NDQ4MDB9.F7doSUV-q0jO49SGAjzhIQ-yY6K3H9ySxRnjb9TawUTmpNb8poY6LZOZgHEB4md9FHjLS-_hse8LLr0wcYeJjg

CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql AS $$
    SELECT rtrim(translate(encode($1, 'base64'), E'+/\n', '-_'), '=')
$$;
-- A token with HS256's signature over any header and payload bytes.
CREATE FUNCTION pg_temp.hs(header bytea, payload bytea, secret bytea) RETURNS text
LANGUAGE sql AS $$
    SELECT h || '.' || p || '.' || pg_temp.b64url(hmac(convert_to(h || '.' || p, 'UTF8'), secret, 'sha256'))
    FROM (SELECT pg_temp.b64url(header) AS h, pg_temp.b64url(payload) AS p) x
$$;
CREATE FUNCTION pg_temp.hs(header text, payload text, secret text) RETURNS text
LANGUAGE sql AS $$
    SELECT pg_temp.hs(convert_to(header, 'UTF8'), convert_to(payload, 'UTF8'), convert_to(secret, 'UTF8'))
$$;
-- The same text with its last character moved one place along the
-- base64url alphabet: for a signature, one of its unused trailing bits set.
CREATE FUNCTION pg_temp.bump_last(t text) RETURNS text LANGUAGE sql AS $$
    SELECT left(t, -1) || substr(a, strpos(a, right(t, 1)) + 1, 1)
    FROM (SELECT 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_' AS a) x
$$;
CREATE FUNCTION pg_temp.check(token text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    msg text;
    det text;
BEGIN
    SELECT * INTO r FROM tenancy.verify_token(token);
    RETURN format('accepted: user %s, tenant %s, expires %s',
                  left(r.user_id::text, 8), coalesce(left(r.tenant_id::text, 8), '-'),
                  to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || msg || ': ' || det;
END
$$;

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    det text;
BEGIN
    EXECUTE sql;
    RETURN 'done';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || msg || coalesce(': ' || nullif(det, ''), '');
END
$$;

-- No key yet.
SELECT pg_temp.check(:'rs256') AS no_keys;

-- Keys: RS256, ES256 and EdDSA public keys, an HS256 secret.
SELECT tenancy.add_signing_key('rsa-1', 'RS256', $$-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsSA4o3Ze12cHUb+UmImW
vvL5U3S/KNweqS0DLvpbtyTM4RUOBMPBE2d9e9j785QrMDb2D96UeKgUJMTa/tAQ
Tg4XW4rWpYrxLZxj57tRABaKyFV4xYsOayosO0aldxLpGL4/TQFhjhYq2UlPPYCj
9LPK2KujfO5SgOpIXDZeUi+bOl06dloFx6qwxiENJ7y/ZwahlOePA3Foq8kB1+JT
4DcaiQZn7sS63bhbdXwO3PqVKrh3pnC0jZhVLorSoPPXSDKTO59BADZWPSpjoLj5
15heXw6dRPWzLT3fKlomkAbPZOSL9JwXbWbosMOA1v4BImlhv/sg+PNcyZuvFR6B
EQIDAQAB
-----END PUBLIC KEY-----
$$);
SELECT tenancy.add_signing_key('ec-1', 'ES256', $$-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErkecSVInZy4gdQUX3K0xn/3DDans
AnAj2oIQoYR2pCUxh5GZLiTRmK3XHT8NDddlnAqME1jMMPEh/Mu08cXH6g==
-----END PUBLIC KEY-----
$$);
SELECT tenancy.add_signing_key('ed-1', 'EdDSA', $$-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAXw4pGP+R62sTdg4P609H3WOOZveb/W6xH64UswbiJYA=
-----END PUBLIC KEY-----
$$);
SELECT tenancy.add_signing_key('hs-1', 'HS256', 'a test secret of at least thirty-two bytes');
-- The same RSA key under another kid, whose tokens must name an issuer and
-- an audience.
SELECT tenancy.add_signing_key('rsa-aud', 'RS256', key, issuer => 'https://issuer.example', audience => 'api')
FROM tenancy.signing_keys WHERE kid = 'rsa-1';
SELECT kid, alg, issuer, audience FROM tenancy.signing_keys ORDER BY kid;

-- Each algorithm, with a valid token.
SELECT pg_temp.check(:'rs256') AS rs256;
SELECT pg_temp.check(:'es256') AS es256;
SELECT pg_temp.check(:'eddsa') AS eddsa;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'a test secret of at least thirty-two bytes')) AS hs256;
-- Without a kid: the only key of the token's algorithm.
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'a test secret of at least thirty-two bytes')) AS hs256_no_kid;

-- Wrong key, unknown kid, no kid with two keys of the algorithm.
SELECT pg_temp.check(:'rs256_wrong_key') AS wrong_key;
SELECT pg_temp.check(:'rs256_unknown_kid') AS unknown_kid;
SELECT pg_temp.check(:'rs256_no_kid') AS no_kid_two_rs256_keys;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'another secret of at least thirty-two bytes')) AS hs256_wrong_secret;

-- Algorithm confusion: an HS256 token whose HMAC key is the RS256 public
-- key (which anyone may know), naming that key; and an ES256 signature
-- under a header that says RS256.
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"rsa-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                key)) AS hs256_with_the_rsa_public_key
FROM tenancy.signing_keys WHERE kid = 'rsa-1';
SELECT pg_temp.check(:'es256_as_rs256') AS es256_signature_named_rs256;
-- "none", with and without a signature; an algorithm it does not know; no alg.
SELECT pg_temp.check(pg_temp.b64url('{"alg":"none","kid":"rsa-1"}') || '.' ||
                     split_part(:'rs256', '.', 2) || '.') AS alg_none;
SELECT pg_temp.check(pg_temp.b64url('{"alg":"none","kid":"rsa-1"}') || '.' ||
                     split_part(:'rs256', '.', 2) || '.' || split_part(:'rs256', '.', 3)) AS alg_none_signed;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS512","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'a test secret of at least thirty-two bytes')) AS alg_hs512;
SELECT pg_temp.check(pg_temp.hs('{"kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'a test secret of at least thirty-two bytes')) AS no_alg;
-- A member read twice is ambiguous: refused.
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1","alg":"none"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'a test secret of at least thirty-two bytes')) AS alg_twice;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800,"sub":"33333333-3333-4333-8333-333333333333"}',
                                'a test secret of at least thirty-two bytes')) AS sub_twice;
-- A member of the wrong type is refused, not taken as absent.
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":["hs-1"]}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                                'a test secret of at least thirty-two bytes')) AS kid_array;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800,"tenant":["22222222-2222-4222-8222-222222222222"]}',
                                'a test secret of at least thirty-two bytes')) AS tenant_array;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800,"tenant":null}',
                                'a test secret of at least thirty-two bytes')) AS tenant_null;
-- An ES256 signature must be raw r||s (64 bytes), not DER.
SELECT pg_temp.check(:'es256_der') AS es256_der_signature;

-- Time: expired; nbf in the future; nbf in the past is fine.
SELECT pg_temp.check(:'rs256_expired') AS expired;
SELECT pg_temp.check(:'rs256_nbf_future') AS nbf_future;
SELECT pg_temp.check(:'rs256_nbf_past') AS nbf_past;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":"4102444800"}',
                                'a test secret of at least thirty-two bytes')) AS exp_as_string;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":1e400}',
                                'a test secret of at least thirty-two bytes')) AS exp_huge;

-- Issuer and audience, when the key names them.
SELECT pg_temp.check(:'aud_ok') AS iss_and_aud;
SELECT pg_temp.check(:'aud_array_ok') AS aud_array;
SELECT pg_temp.check(:'iss_wrong') AS wrong_iss;
SELECT pg_temp.check(:'iss_missing') AS missing_iss;
SELECT pg_temp.check(:'aud_wrong') AS wrong_aud;
SELECT pg_temp.check(:'aud_array_wrong') AS wrong_aud_array;
SELECT pg_temp.check(:'aud_array_nested') AS nested_aud_array;

-- Canonical base64url only: padding, the standard alphabet, whitespace,
-- and a signature whose unused trailing bits are set (the same token, its
-- last character changed) are refused.
SELECT pg_temp.check(:'rs256' || '==') AS padded;
SELECT pg_temp.check(translate(:'rs256', '-_', '+/')) AS standard_alphabet
WHERE :'rs256' ~ '[-_]';
SELECT pg_temp.check(replace(:'rs256', '.', E'.\n')) AS whitespace;
SELECT pg_temp.check(:'rs256' || 'A') AS one_char_too_many;
SELECT right(:'rs256', 1) AS last_char, right(pg_temp.bump_last(:'rs256'), 1) AS changed_to,
       pg_temp.check(pg_temp.bump_last(:'rs256')) AS rs256_trailing_bits;
SELECT pg_temp.check(t) AS hs256, pg_temp.check(pg_temp.bump_last(t)) AS hs256_trailing_bits
FROM pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800}',
                'a test secret of at least thirty-two bytes') t;
SELECT pg_temp.check('a.b') AS two_parts, pg_temp.check('') AS empty;

-- Limits, checked before anything is parsed: length, nesting, encoding.
SELECT pg_temp.check(repeat('A', 8193)) AS too_long;
SELECT pg_temp.check(pg_temp.b64url(convert_to(repeat('[', 100000), 'UTF8')) || '.e30.AAAA') AS deep_header;
SELECT pg_temp.check(pg_temp.b64url(convert_to(repeat('[', 6000), 'UTF8')) || '.e30.AAAA') AS deep_header_in_length;
SELECT pg_temp.check(pg_temp.b64url(convert_to(repeat('[', 17), 'UTF8')) || '.e30.AAAA') AS header_depth_17;
SELECT pg_temp.check(pg_temp.hs(convert_to('{"alg":"HS256","kid":"hs-1"}', 'UTF8'),
                                convert_to('{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800,"x":' ||
                                           repeat('[', 2500) || repeat(']', 2500) || '}', 'UTF8'),
                                'a test secret of at least thirty-two bytes')) AS deep_payload;
SELECT pg_temp.check(pg_temp.hs(convert_to('{"alg":"HS256","kid":"hs-1"}', 'UTF8'),
                                '\x7b22737562223a22c328227d'::bytea,
                                'a test secret of at least thirty-two bytes')) AS invalid_utf8_payload;
SELECT pg_temp.check(pg_temp.hs('\x7b22616c67223a22485332353622ff7d'::bytea,
                                convert_to('{}', 'UTF8'),
                                'a test secret of at least thirty-two bytes')) AS invalid_utf8_header;
SELECT pg_temp.check(pg_temp.hs('\x7b22616c67223a224853323536227d00'::bytea,
                                convert_to('{}', 'UTF8'),
                                'a test secret of at least thirty-two bytes')) AS zero_byte_header;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}',
                                '{"sub":"11111111-1111-4111-8111-111111111111","exp":4102444800,"x":"\u0000"}',
                                'a test secret of at least thirty-two bytes')) AS escaped_zero;
SELECT pg_temp.check(pg_temp.hs('{"alg":"HS256","kid":"hs-1"}', '[1,2]',
                                'a test secret of at least thirty-two bytes')) AS payload_not_object;

-- The same in the context's check hook, in signed mode: the deep header
-- costs the statement, not the connection.
CREATE ROLE regress_tenancy_keys_app LOGIN;
SET tenancy.require_signed_context = on;
SET ROLE regress_tenancy_keys_app;
\set VERBOSITY sqlstate
BEGIN;
SET LOCAL tenancy.context = :'rs256_expired';
ROLLBACK;
SELECT tenancy.set_context_token(pg_temp.b64url(convert_to(repeat('[', 100000), 'UTF8')) || '.e30.AAAA');
SELECT tenancy.set_context_token(pg_temp.bump_last(:'rs256'));
\set VERBOSITY default
SELECT 'still connected' AS after_attacks;

-- Nobody but a superuser reads or changes the keys, or asks the verifier.
SELECT pg_temp.try('SELECT count(*) FROM tenancy.signing_keys') AS read_keys;
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('mine', 'HS256', 'an attacker secret of thirty-two bytes!')$q$) AS add_key;
SELECT pg_temp.try($q$INSERT INTO tenancy.signing_keys (kid, alg, key) VALUES ('mine', 'HS256', 'an attacker secret of thirty-two bytes!')$q$) AS insert_key;
SELECT pg_temp.try($q$SELECT tenancy.drop_signing_key('rsa-1')$q$) AS drop_key;
SELECT pg_temp.try(format('SELECT tenancy.verify_token(%L)', :'rs256')) AS verify;
SELECT has_table_privilege('tenancy.signing_keys', 'SELECT') AS can_select,
       has_function_privilege('tenancy.add_signing_key(text, text, text, text, text)', 'EXECUTE') AS can_add,
       has_function_privilege('tenancy.drop_signing_key(text)', 'EXECUTE') AS can_drop,
       has_function_privilege('tenancy.verify_token(text)', 'EXECUTE') AS can_verify;
RESET ROLE;
RESET tenancy.require_signed_context;

-- A signed context end to end, with an RS256 token.
INSERT INTO tenancy.users (id, email) VALUES ('11111111-1111-4111-8111-111111111111', 'signed@example.com');
SELECT tenancy.create_organization('keys-org', admin => '11111111-1111-4111-8111-111111111111') IS NOT NULL AS org;
SET tenancy.require_signed_context = on;
SET ROLE regress_tenancy_keys_app;
BEGIN;
SELECT tenancy.set_context_token(:'eddsa');
SELECT tenancy.current_user_id() AS signed_user;
COMMIT;
RESET ROLE;
RESET tenancy.require_signed_context;

-- Adding keys: checked, with the right SQLSTATE.
SELECT pg_temp.try(format($q$SELECT tenancy.add_signing_key('rsa-1', 'RS256', %L)$q$, key)) FROM tenancy.signing_keys WHERE kid = 'rsa-1';
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('x', 'none', 'whatever')$q$);
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('x', 'HS256', 'too short')$q$);
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('x', 'RS256', 'not a key')$q$);
SELECT pg_temp.try(format($q$SELECT tenancy.add_signing_key('x', 'ES256', %L)$q$, key)) FROM tenancy.signing_keys WHERE kid = 'rsa-1';
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('x', 'RS256', $$-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+Hr/ZZAHN43NwSidMj8HaRF1M
CzgLkqvngCNxEyNj27nyAOPlDqYJqoxz53WBd9EV+0WwJfoPcxSW2fOiHA9On3AA
/X8RvceiPs53F3/TSkhuyqTdbnYu9CweS/ZuYOZ9vSZhkdl3JfoCrNO5AoxHN0fm
v2wGvXG0tihsh1gPTQIDAQAB
-----END PUBLIC KEY-----
$$)$q$);
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('x', 'ES256', $$-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEzXlkmiN7UA7CZ5ogtAFuFO2ioCikG7j7
VJlrqtzmBhdLzzLbRIn5LNvoFKt84PBoynif8RPV83QKAe9Pqq3DtjwHfFlXhX71
zl2mWOkTU8rkN/qqA4+MIXDTwglHSbeJ
-----END PUBLIC KEY-----
$$)$q$);
SELECT pg_temp.try(format($q$SELECT tenancy.add_signing_key('x', 'EdDSA', %L)$q$, key)) FROM tenancy.signing_keys WHERE kid = 'ec-1';
-- A private key is never taken.
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('x', 'EdDSA', $$-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJLjYMQcFkp0bI6y10+6bMeysf97jNB82+plXArdD74c
-----END PRIVATE KEY-----
$$)$q$);
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key('', 'HS256', 'a test secret of at least thirty-two bytes')$q$);
SELECT pg_temp.try($q$SELECT tenancy.add_signing_key(NULL, 'HS256', 'a test secret of at least thirty-two bytes')$q$);
-- A plain INSERT is checked too.
SELECT pg_temp.try($q$INSERT INTO tenancy.signing_keys (kid, alg, key) VALUES ('x', 'HS256', 'short')$q$);
SELECT count(*) AS no_key_x FROM tenancy.signing_keys WHERE kid = 'x';

-- Rotation: two RS256 keys valid at once, by kid; drop one and its tokens
-- stop working.
SELECT tenancy.add_signing_key('rsa-2', 'RS256', $$-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzU6vkDvBlZjwUNoE/Mpv
HcQphjJiMovUgmmla70S4c3pbBwZH3+DZtjkJZLw3Q7IGM3IiIi9ulLLOp/f6A9i
PZM/6yXiLNdMmxEfLZX1f4DRcm+Sb2EKXj346kOWs/ql3q9PvkvbX+URvB/xyYfg
Lyy5eEdJpuqsXr7sReDLd8nHewnU2qHQ2u7E581J4z+TUnMVWSsNACdSmDvKkywe
mcQMMGTVPGGTsXfMY9MZAiOiyTxXphXt13ASYP1fliIxcjxF1E/FW87f/siwI/6F
yq0KTouLamOfUQpt3JIc0cwTDnP63zNUt4zbh9hNEe/3P6sbMQNNRWmDymqBRHID
2wIDAQAB
-----END PUBLIC KEY-----
$$);
SELECT pg_temp.check(:'rs256') AS old_key, pg_temp.check(:'rs256_rsa2') AS new_key;
SELECT tenancy.drop_signing_key('rsa-1') AS dropped, tenancy.drop_signing_key('rsa-1') AS dropped_again;
SELECT pg_temp.check(:'rs256') AS old_key_after_drop, pg_temp.check(:'rs256_rsa2') AS new_key_after_drop;

-- pg_dump carries the keys.
SELECT 'tenancy.signing_keys'::regclass = ANY (extconfig) AS dumped
FROM pg_extension WHERE extname = 'pg_tenancy';

-- A deep token SET as a new connection's first statement is refused at
-- once (the library is preloaded, as signed contexts require), and the
-- connection goes on.  t/020_hostile_role.pl sets one before the library is
-- loaded, on a server without the preload.
ALTER ROLE regress_tenancy_keys_app SET tenancy.require_signed_context = on;
SELECT pg_temp.b64url(convert_to(repeat('[', 100000), 'UTF8')) || '.e30.AAAA' AS deep \gset
\c - regress_tenancy_keys_app
\set SHOW_CONTEXT never
BEGIN;
SET tenancy.context = :'deep';
SELECT tenancy.current_user_id() IS NULL AS no_context;
ROLLBACK;
SELECT tenancy.current_user_id() IS NULL AS library_still_works,
       current_setting('tenancy.require_signed_context') AS signed;
\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE regress_tenancy_keys_app RESET ALL;

DROP ROLE regress_tenancy_keys_app;
DROP EXTENSION pgcrypto;
DROP EXTENSION pg_tenancy;
