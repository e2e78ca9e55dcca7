"""gRPC adapter for identity: one line per RPC, each handed to the handler of its area."""

from __future__ import annotations

import grpc

from quarterdeck.identity.v1 import identity_pb2 as pb
from quarterdeck.identity.v1 import identity_pb2_grpc
from services.identity.api_keys.handlers import ApiKeyHandlers
from services.identity.context import IdentityContext
from services.identity.keys.handlers import KeyHandlers
from services.identity.mfa.handlers import MfaHandlers
from services.identity.passwords.handlers import PasswordHandlers
from services.identity.profile.handlers import ProfileHandlers
from services.identity.revocations.handlers import RevocationHandlers
from services.identity.security.handlers import SecurityHandlers
from services.identity.sessions.handlers import SessionHandlers
from services.identity.signin.handlers import SignInHandlers
from services.identity.signup.handlers import SignupHandlers


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, ctx: IdentityContext) -> None:
        self._keys = KeyHandlers(ctx)
        self._signup = SignupHandlers(ctx)
        self._signin = SignInHandlers(ctx)
        self._sessions = SessionHandlers(ctx)
        self._mfa = MfaHandlers(ctx)
        self._passwords = PasswordHandlers(ctx)
        self._profile = ProfileHandlers(ctx)
        self._api_keys = ApiKeyHandlers(ctx)
        self._security = SecurityHandlers(ctx)
        self._revocations = RevocationHandlers(ctx)

    async def GetJwks(
        self, request: pb.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJwksResponse:
        return await self._keys.get_jwks(request)

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateSigningKeyResponse:
        return await self._keys.rotate_signing_key(request)

    async def RetireSigningKey(
        self, request: pb.RetireSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetireSigningKeyResponse:
        return await self._keys.retire_signing_key(request)

    async def ListSigningKeys(
        self, request: pb.ListSigningKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSigningKeysResponse:
        return await self._keys.list_signing_keys(request)

    async def SignUp(
        self, request: pb.SignUpRequest, context: grpc.aio.ServicerContext
    ) -> pb.SignUpResponse:
        return await self._signup.sign_up(request)

    async def RequestAccess(
        self, request: pb.RequestAccessRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestAccessResponse:
        return await self._signup.request_access(request)

    async def ListSignupRequests(
        self, request: pb.ListSignupRequestsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSignupRequestsResponse:
        return await self._signup.list_signup_requests(request)

    async def DecideSignupRequest(
        self, request: pb.DecideSignupRequestRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideSignupRequestResponse:
        return await self._signup.decide_signup_request(request)

    async def CreateInvite(
        self, request: pb.CreateInviteRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateInviteResponse:
        return await self._signup.create_invite(request)

    async def ListInvites(
        self, request: pb.ListInvitesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInvitesResponse:
        return await self._signup.list_invites(request)

    async def RevokeInvite(
        self, request: pb.RevokeInviteRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeInviteResponse:
        return await self._signup.revoke_invite(request)

    async def AcceptInvite(
        self, request: pb.AcceptInviteRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcceptInviteResponse:
        return await self._signup.team.accept_invite(request)

    async def SwitchTenant(
        self, request: pb.SwitchTenantRequest, context: grpc.aio.ServicerContext
    ) -> pb.SwitchTenantResponse:
        return await self._signup.team.switch_tenant(request)

    async def SignIn(
        self, request: pb.SignInRequest, context: grpc.aio.ServicerContext
    ) -> pb.SignInResponse:
        return await self._signin.sign_in(request)

    async def CompleteMfaSignIn(
        self, request: pb.CompleteMfaSignInRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteMfaSignInResponse:
        return await self._signin.complete_mfa_sign_in(request)

    async def RefreshSession(
        self, request: pb.RefreshSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshSessionResponse:
        return await self._signin.refresh_session(request)

    async def SignOut(
        self, request: pb.SignOutRequest, context: grpc.aio.ServicerContext
    ) -> pb.SignOutResponse:
        return await self._signin.sign_out(request)

    async def ListMySessions(
        self, request: pb.ListMySessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMySessionsResponse:
        return await self._sessions.list_my_sessions(request)

    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSessionResponse:
        return await self._sessions.revoke_session(request)

    async def RevokeAllSessions(
        self, request: pb.RevokeAllSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeAllSessionsResponse:
        return await self._sessions.revoke_all_sessions(request)

    async def BeginTotpEnrollment(
        self, request: pb.BeginTotpEnrollmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.BeginTotpEnrollmentResponse:
        return await self._mfa.begin_totp_enrollment(request)

    async def ConfirmTotpEnrollment(
        self, request: pb.ConfirmTotpEnrollmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmTotpEnrollmentResponse:
        return await self._mfa.confirm_totp_enrollment(request)

    async def DisableTotp(
        self, request: pb.DisableTotpRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableTotpResponse:
        return await self._mfa.disable_totp(request)

    async def RegenerateRecoveryCodes(
        self, request: pb.RegenerateRecoveryCodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegenerateRecoveryCodesResponse:
        return await self._mfa.regenerate_recovery_codes(request)

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChangePasswordResponse:
        return await self._passwords.change_password(request)

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestPasswordResetResponse:
        return await self._passwords.request_password_reset(request)

    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResetPasswordResponse:
        return await self._passwords.reset_password(request)

    async def UnlockUser(
        self, request: pb.UnlockUserRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnlockUserResponse:
        return await self._passwords.unlock_user(request)

    async def GetMe(
        self, request: pb.GetMeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMeResponse:
        return await self._profile.get_me(request)

    async def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateProfileResponse:
        return await self._profile.update_profile(request)

    async def RecordConsent(
        self, request: pb.RecordConsentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordConsentResponse:
        return await self._profile.record_consent(request)

    async def ListConsents(
        self, request: pb.ListConsentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListConsentsResponse:
        return await self._profile.list_consents(request)

    async def SetNotificationPreference(
        self, request: pb.SetNotificationPreferenceRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetNotificationPreferenceResponse:
        return await self._profile.set_notification_preference(request)

    async def ListNotificationPreferences(
        self, request: pb.ListNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListNotificationPreferencesResponse:
        return await self._profile.list_notification_preferences(request)

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateApiKeyResponse:
        return await self._api_keys.create_api_key(request)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListApiKeysResponse:
        return await self._api_keys.list_api_keys(request)

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeApiKeyResponse:
        return await self._api_keys.revoke_api_key(request)

    async def ExchangeApiKey(
        self, request: pb.ExchangeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExchangeApiKeyResponse:
        return await self._api_keys.exchange_api_key(request)

    async def ListSecurityEvents(
        self, request: pb.ListSecurityEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSecurityEventsResponse:
        return await self._security.list_security_events(request)

    async def ReportSecurityEvent(
        self, request: pb.ReportSecurityEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportSecurityEventResponse:
        return await self._security.report_security_event(request)

    async def ListRevocations(
        self, request: pb.ListRevocationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRevocationsResponse:
        return await self._revocations.list_revocations(request)
